"""Load generator: fixed concurrency, fixed duration (or request count), JSON or SSE POSTs.

It always runs in processes of its own, never on a server's event loop. Two engines:

* ``wrk`` (C, Debian package ``wrk``, script bench/wrk_post.lua): requests/s and full-response
  latency percentiles (an SSE answer counts when its last chunk arrived). It cannot see the
  first body byte, so it reports no TTFB.
* ``python`` (aiohttp client on uvloop, 1..N processes): the same numbers plus time to first
  body byte (TTFB) for each request.

Which one measures honestly on the 2-core bench machine (``python bench/loadgen.py --selftest``,
c=32, JSON; cores used during the window; quiet machine):

                              req/s   load generator   server
    mock directly, wrk -t1    5,100   0.16 core        0.93 core
    mock directly, python x1  5,000   0.94 core        0.73 core
    mock directly, python x2  3,900   0.94 core        0.61 core
    floor app,     wrk -t1    1,900   0.08 core        0.92 core (+ the mock)
    floor app,     python x1  1,500   0.45 core        0.59 core (+ the mock)

One aiohttp client process can just about keep up with the mock, but only by taking a whole
core, and a second process makes it worse. Against anything with a hop (floor app, gateway:
two Python servers already share the two cores) the Python client takes the CPU the servers
need and lowers their rate by about a quarter. wrk does the same work with a tenth of the CPU.
So requests/s and latency come from wrk. The ~6,000 req/s floor in the spec cannot be reached
on this machine with any client: the mock alone peaks at ~5,000 on its own core.

TTFB needs the first body chunk, which wrk does not report: at c=1 a Python run measures it;
at higher concurrency wrk holds c-1 connections busy while one Python client (the probe)
measures TTFB among them (``--engine wrk+probe``), so that the probe sees the server's
queueing and not its own event loop.

CLI: ``python bench/loadgen.py --url URL --body JSON [--header 'k: v'] -c 32 -d 3
[--engine wrk|python|wrk+probe] [--processes N] [--requests N]``; prints one JSON result on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from stats import Result, summary_ms

WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")


@dataclass(frozen=True)
class Target:
    url: str
    body: bytes
    headers: dict[str, str]


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


# --- wrk ---------------------------------------------------------------------------------------


def run_wrk(target: Target, concurrency: int, duration: float, threads: int = 1) -> Result:
    """One wrk run; its own CPU time is read from this process's reaped children."""
    before = _children_cpu()
    wrk = _start_wrk(target, concurrency, duration, threads)
    stdout, stderr = wrk.communicate(timeout=duration + 30)
    return _wrk_result(
        target, concurrency, wrk.returncode, stdout, stderr, _children_cpu() - before
    )


def run_wrk_with_probe(
    target: Target, concurrency: int, duration: float, probes: int = 1
) -> Result:
    """wrk keeps ``concurrency - probes`` requests going while a Python client measures TTFB
    on ``probes`` connections; latency percentiles are wrk's, req/s the sum of both.

    A Python client at full concurrency would measure its own event loop as much as the
    server; with a few requests among wrk's it sees the server's queueing, not its own.
    Caveat: against a saturated server, wrk's connections move in lockstep batches and a
    probe request that falls between two batches is served at once, so the probe's TTFB can
    be far below what wrk's requests saw (``probe_vs_wrk`` in ``extra`` shows it).
    """
    probes = max(1, min(probes, concurrency - 1))
    if concurrency < 2:
        return run_python(target, concurrency, duration)
    before = _children_cpu()
    wrk = _start_wrk(target, concurrency - probes, duration, 1)
    try:
        # Inside wrk's window: starts once wrk is connected, ends before wrk stops.
        probe = run_python(target, probes, max(0.5, duration - 1.0), warmup=0.4)
        stdout, stderr = wrk.communicate(timeout=duration + 30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    load = _wrk_result(target, concurrency - probes, wrk.returncode, stdout, stderr, 0.0)
    errors = Counter(load.errors)
    errors.update(probe.errors)
    load.engine = "wrk+probe"
    load.concurrency = concurrency
    load.rps = round(load.rps + probe.rps, 1)
    load.ttfb_ms = probe.ttfb_ms
    load.errors = dict(errors)
    load.cpu_s = round(_children_cpu() - before + probe.cpu_s, 3)
    wrk_p50, probe_p50 = load.latency_ms["p50"], probe.latency_ms["p50"]
    load.extra = {
        "probe": probe.to_json(),
        "probe_vs_wrk": round(probe_p50 / wrk_p50, 3) if wrk_p50 and probe_p50 else None,
    }
    return load


def _start_wrk(
    target: Target, concurrency: int, duration: float, threads: int
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "BENCH_BODY": target.body.decode(),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in target.headers.items()),
    }
    command = [
        "wrk",
        f"-t{max(1, min(threads, concurrency))}",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--timeout", "10s",
        "-s", str(WRK_SCRIPT),
        target.url,
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wrk_result(
    target: Target, concurrency: int, code: int | None, stdout: str, stderr: str, cpu: float
) -> Result:
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if code != 0 or line is None:
        raise RuntimeError(f"wrk failed ({code}): {stderr or stdout}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    window = data["duration_us"] / 1e6
    errors = {k: v for k, v in data["errors"].items() if v}
    latency = {k: round(v / 1000, 3) for k, v in data["latency_us"].items()}
    return Result(
        engine="wrk",
        url=target.url,
        concurrency=concurrency,
        window_s=round(window, 3),
        requests=data["requests"],
        rps=round(data["requests"] / window, 1),
        latency_ms=latency,
        ttfb_ms=None,
        errors=errors,
        cpu_s=round(cpu, 3),
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- Python (aiohttp) ---------------------------------------------------------------------------


@dataclass
class _Share:
    """What one load process measured; merged by :func:`run_python`."""

    latencies: list[float]
    ttfbs: list[float]
    heads: list[float]
    errors: dict[str, int]
    window_s: float
    cpu_s: float


def run_python(
    target: Target,
    concurrency: int,
    duration: float,
    processes: int = 1,
    warmup: float = 0.5,
    requests: int | None = None,
) -> Result:
    """``concurrency`` connections split over ``processes`` processes that start together."""
    processes = max(1, min(processes, concurrency))
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    counts = (
        [requests // processes + (i < requests % processes) for i in range(processes)]
        if requests
        else [None] * processes
    )
    start_at = time.time() + 0.3 + 0.2 * processes  # after every process has imported aiohttp
    if processes == 1:
        parts = [_measure(target, shares[0], duration, warmup, counts[0], start_at)]
    else:
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(_measure, target, share, duration, warmup, count, start_at)
                for share, count in zip(shares, counts, strict=True)
            ]
            parts = [f.result() for f in futures]
    latencies = [x for p in parts for x in p.latencies]
    ttfbs = [x for p in parts for x in p.ttfbs]
    heads = [x for p in parts for x in p.heads]
    errors: Counter[str] = Counter()
    for part in parts:
        errors.update(part.errors)
    window = max(p.window_s for p in parts)
    return Result(
        engine=f"python x{processes}",
        url=target.url,
        concurrency=concurrency,
        window_s=round(window, 3),
        requests=len(latencies),
        rps=round(len(latencies) / window, 1) if window else 0.0,
        latency_ms=summary_ms(latencies),
        ttfb_ms=summary_ms(ttfbs),
        errors=dict(errors),
        cpu_s=round(sum(p.cpu_s for p in parts), 3),
        extra={"headers_ms": summary_ms(heads)},
    )


def _measure(
    target: Target,
    concurrency: int,
    duration: float,
    warmup: float,
    count: int | None,
    start_at: float,
) -> _Share:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    return asyncio.run(_load(target, concurrency, duration, warmup, count))


async def _load(
    target: Target, concurrency: int, duration: float, warmup: float, count: int | None
) -> _Share:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=30)
    latencies: list[float] = []
    ttfbs: list[float] = []
    heads: list[float] = []
    errors: Counter[str] = Counter()
    clock = time.perf_counter
    begin = clock()
    window_start = begin + warmup
    deadline = window_start + duration
    remaining = [count] if count is not None else None

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            if remaining is not None:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            elif clock() >= deadline:
                return
            started = clock()
            try:
                async with session.post(target.url, data=target.body, headers=target.headers) as r:
                    head = clock()
                    await r.content.readany()
                    first = clock()
                    while await r.content.readany():
                        pass
                    status = r.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1
                continue
            ended = clock()
            if not 200 <= status < 300:
                errors["status"] += 1
            elif remaining is not None or window_start <= ended <= deadline:
                latencies.append(ended - started)
                ttfbs.append(first - started)
                heads.append(head - started)

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        if remaining is not None:
            window_start = clock()
        cpu_before = _self_cpu()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        cpu = _self_cpu() - cpu_before
        window = (clock() - window_start) if remaining is not None else duration
    if remaining is None:  # the CPU of the warm-up is not the window's
        cpu *= duration / max(clock() - begin, duration)
    return _Share(latencies, ttfbs, heads, dict(errors), window, cpu)


# --- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="the URL to POST to")
    parser.add_argument("--body", default="{}", help="request body (JSON text)")
    parser.add_argument("--header", action="append", default=[], help="'name: value'")
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=3.0, help="seconds")
    parser.add_argument("-n", "--requests", type=int, default=None, help="count instead of time")
    parser.add_argument("--engine", choices=("wrk", "python", "wrk+probe"), default="wrk")
    parser.add_argument("--processes", type=int, default=1, help="python engine processes")
    parser.add_argument("--probes", type=int, default=1, help="wrk+probe: Python connections")
    parser.add_argument("--warmup", type=float, default=0.5, help="python engine warm-up, s")
    parser.add_argument("--selftest", action="store_true", help="compare the engines on a mock")
    args = parser.parse_args(argv)
    if args.selftest:
        from selftest import selftest

        return selftest(args.duration)
    if not args.url:
        parser.error("--url is required")
    headers = dict(_header(h) for h in args.header)
    headers.setdefault("content-type", "application/json")
    target = Target(args.url, args.body.encode(), headers)
    if args.engine == "wrk" and args.requests is None:
        result = run_wrk(target, args.concurrency, args.duration)
    elif args.engine == "wrk+probe" and args.requests is None:
        result = run_wrk_with_probe(target, args.concurrency, args.duration, args.probes)
    else:
        result = run_python(
            target, args.concurrency, args.duration, args.processes, args.warmup, args.requests
        )
    json.dump(result.to_json(), sys.stdout)
    print()
    return 0


def _header(text: str) -> tuple[str, str]:
    name, _, value = text.partition(":")
    return name.strip(), value.strip()


def run_cli(args: list[str], timeout: float, cpus: str | None = None) -> Result:
    """Runs this file as a separate process (so it never shares a server's loop or core), on
    the CPUs ``cpus`` if given (wrk, its child, inherits them)."""
    command = [sys.executable, __file__, *args]
    done = subprocess.run(
        ["taskset", "-c", cpus, *command] if cpus else command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr[-2000:]}")
    return Result.from_json(json.loads(done.stdout.strip().splitlines()[-1]))


def cli_args(target: Target, concurrency: int, duration: float, **options: Any) -> list[str]:
    """The command line for :func:`run_cli` that measures ``target``."""
    args = ["--url", target.url, "--body", target.body.decode(), "-c", str(concurrency)]
    args += ["-d", str(duration)]
    for name, value in target.headers.items():
        args += ["--header", f"{name}: {value}"]
    for name, value in options.items():
        if value is not None:
            args += [f"--{name.replace('_', '-')}", str(value)]
    return args


if __name__ == "__main__":
    sys.exit(main())
