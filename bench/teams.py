"""What named keys and workers cost and give (docs/teams.md).

1. The added cost of a named key per request: finding the key by the digest of what the
   client sent, then admitting it under its limits (requests, tokens, concurrency; the
   rate-limit headers included) and counting its end. In the process, and against a
   redis-server on this host (two round trips: admit, finish). p50 over many requests, timed
   one by one on an event loop as the server runs them.
2. Passthrough throughput at c=32 (wrk, JSON answers from the mock) of ``gateway serve
   --workers 2`` against one worker, runs interleaved (1, 2, 1, 2, ...) so that a change in the
   machine's load hits both alike.

    python bench/teams.py [--rounds 3] [--duration 5] [--skip-throughput]

Needs ``redis-server`` (Debian package redis-server) and ``wrk`` (Debian package wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).parent))

from loadgen import run_wrk, wrk_available
from procs import ROOT, Servers, cpu_seconds, free_port, gateway_command
from setups import gateway_config, gateway_env, passthrough_target, start_mock

sys.path.insert(0, str(ROOT))

from gateway.exchange import Exchange
from gateway.teams.keys import ClientKey, KeyRing, hash_key, new_key
from gateway.teams.limiter import Limiter
from gateway.teams.options import StateOptions

KEYS = 50  # keys configured; the lookup is by digest, so their number should not matter


def _ring() -> tuple[KeyRing, str]:
    presented = ""
    keys = []
    for i in range(KEYS):
        key = new_key()
        digest = bytes.fromhex(hash_key(key)[len("sha256:") :])
        limits = {"requests_per_minute": 10**9, "tokens_per_minute": 10**12, "concurrency": 1000}
        keys.append(ClientKey(f"k{i}", digest, **limits))
        presented = key
    return KeyRing(tuple(keys)), presented


async def _per_request(options: StateOptions, requests: int) -> list[float]:
    """Microseconds of lookup + admit + finish for each of ``requests`` sequential requests."""
    ring, presented = _ring()
    limiter = Limiter()
    await limiter.configure(options, 600)
    headers = {"x-api-key": presented}
    took = []
    try:
        for i in range(requests + 200):
            exchange = Exchange(f"bench{i}", "POST", "/v1/messages", headers, "127.0.0.1")
            start = time.perf_counter_ns()
            key = ring.find(presented)
            assert key is not None
            exchange.key_name = key.name
            admission = await limiter.admit(ring, exchange, anthropic=True)
            assert admission is not None and admission.headers
            await limiter.finish(admission, exchange)
            took.append((time.perf_counter_ns() - start) / 1000)
    finally:
        await limiter.close()
    return took[200:]  # the first ones warm up the loop, the scripts, the connection


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_us": round(median(ordered), 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99)], 1),
    }


def _redis(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not answer within 15 s")


def key_costs(requests: int) -> dict[str, object]:
    results: dict[str, object] = {
        "in_process": _percentiles(asyncio.run(_per_request(StateOptions(), requests)))
    }
    with tempfile.TemporaryDirectory() as directory:
        process, port = _redis(Path(directory))
        try:
            options = StateOptions(url=f"redis://127.0.0.1:{port}/0")
            results["redis_same_host"] = _percentiles(asyncio.run(_per_request(options, requests)))
        finally:
            process.terminate()
            process.wait(10)
    return results


def _tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants (a gateway and its workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grown = {root}, True
    while grown:
        grown = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grown = True
    total = 0.0
    for pid in tree:
        with contextlib.suppress(OSError):  # it ended meanwhile
            total += cpu_seconds(pid)
    return total


def throughput(rounds: int, duration: float) -> dict[str, object]:
    logdir = Path(tempfile.mkdtemp(prefix="bench-teams-"))
    rates: dict[int, list[float]] = {1: [], 2: []}
    with Servers(logdir) as servers:
        mock_port = start_mock(servers, "mock")
        ports = {}
        for workers in (1, 2):
            config = logdir / f"gateway{workers}.yaml"
            config.write_text(gateway_config(mock_port, Path("/dev/null")))
            port = free_port()
            command = [*gateway_command(), "serve", "--config", str(config), "--port", str(port)]
            command += ["--workers", str(workers), "--no-reload"]
            servers.start(f"gateway{workers}", command, port, env=gateway_env(), probe="/health")
            ports[workers] = port
        for workers in (1, 2):  # warm-up
            run_wrk(passthrough_target(ports[workers], False), 32, 1.0)
        cores: dict[str, list[float]] = {"gateway1": [], "gateway2": [], "mock": [], "wrk": []}
        for _ in range(rounds):
            for workers in (1, 2):
                name = f"gateway{workers}"
                before = {n: _tree_cpu(servers.pid(n)) for n in (name, "mock")}
                result = run_wrk(passthrough_target(ports[workers], False), 32, duration)
                assert not result.errors, result.errors
                rates[workers].append(round(result.rps))
                for n in (name, "mock"):
                    used = _tree_cpu(servers.pid(n)) - before[n]
                    cores[n if n == "mock" else name].append(round(used / result.window_s, 2))
                cores["wrk"].append(round(result.cpu_s / result.window_s, 2))
    one, two = median(rates[1]), median(rates[2])
    return {
        "c": 32,
        "req_per_s_1_worker": rates[1],
        "req_per_s_2_workers": rates[2],
        "ratio_of_medians": round(two / one, 2),
        "cores_used": cores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(ROOT)  # the gateways run this tree, not an installed copy
    report: dict[str, object] = {"key_lookup_and_limits": key_costs(args.requests)}
    print(json.dumps(report, indent=2), flush=True)
    if not args.skip_throughput:
        if not wrk_available():
            sys.exit("wrk is needed for the throughput part (apt-get install wrk)")
        report["passthrough_workers"] = throughput(args.rounds, args.duration)
        print(json.dumps(report["passthrough_workers"], indent=2))


if __name__ == "__main__":
    main()
