"""What the usage ledger adds to a request: the hook's own cost, and end-to-end latency.

1. The hook alone: ``Ledger.record`` (what the built-in plugin's hook calls) timed per call, on an event loop
   where the ledger's writer runs (batches going to SQLite on its thread meanwhile).
2. End to end: two `gateway serve` processes on the same routes, one with the ledger (SQLite)
   and one with ``usage: {enabled: false}``, both in front of the mock upstream; requests
   alternate between them one by one (A, B, A, B...), so both see the same machine; then the
   same with 8 clients at once. Reports the p50 of each, their difference, and the CPU time
   each gateway process used per request (all threads, from /proc: steadier than latency on a
   shared machine). ``--control`` runs two gateways without the ledger: the set-up's own bias.

    .venv/bin/python bench/ledger_overhead.py [--requests 3000] [--calls 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from mock_upstream import MockUpstream  # noqa: E402

from gateway import ir  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.exchange import Exchange  # noqa: E402
from gateway.ledger.service import Ledger  # noqa: E402

ROUTES = """
version: 1
sinks:
  up: {{kind: http, base_url: "{upstream}", dialect: anthropic.messages}}
models:
  - name: opus
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
access_log: {{enabled: false}}
usage: {usage}
"""
BODY = {"model": "opus", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def _config(folder: Path, name: str, upstream: str, usage: str) -> Path:
    path = folder / name / "routes.yaml"
    path.parent.mkdir()
    path.write_text(ROUTES.format(upstream=upstream, usage=usage))
    return path


def hook_cost(folder: Path, calls: int) -> list[float]:
    """Nanoseconds per call of the request-finished hook, with the writer running."""
    config = load_config(_config(folder, "hook", "http://127.0.0.1:9", "{}"))
    ledger = Ledger()
    timings: list[float] = []

    async def run() -> None:
        await ledger.configure(config)
        for i in range(calls):
            exchange = Exchange(f"r{i}", "POST", "/v1/messages", {}, "127.0.0.1")
            exchange.route, exchange.endpoint = "/v1/messages", "anthropic.messages"
            exchange.model, exchange.target_model, exchange.sink = "opus", "opus", "up"
            exchange.status, exchange.finished = 200, time.perf_counter()
            exchange.usage = ir.Usage(10, 5)
            started = time.perf_counter_ns()
            ledger.record(exchange)
            timings.append(time.perf_counter_ns() - started)
            if i % 200 == 0:
                await asyncio.sleep(0)  # let the writer hand batches to its thread
        await ledger.close()

    asyncio.run(run())
    return timings


def _serve(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config),
         "--port", str(port), "--no-reload"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )  # fmt: skip


def _cpu_ns(pid: int, main_only: bool = False) -> int:
    """CPU time a process has run in ns: all its threads (the ledger's writer too), or only
    its main thread (the event loop's)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        if main_only and task.name != str(pid):
            continue
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return total


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def end_to_end(
    folder: Path, requests: int, threads: int, flush_interval: float, control: bool = False
) -> dict[str, list[float]]:
    upstream = MockUpstream().start()
    ledger = f"{{path: {folder / 'usage.db'}, flush_interval: {flush_interval}}}"
    if control:  # an A/A run: what the set-up itself makes of two identical gateways
        ledger = "{enabled: false}"
    names = {"ledger": ledger, "no ledger": "{enabled: false}"}
    servers, urls = [], {}
    try:
        for name, usage in names.items():
            port = _free_port()
            config = _config(folder, name.replace(" ", "_"), upstream.base_url, usage)
            servers.append(_serve(config, port, folder / f"{name.replace(' ', '_')}.log"))
            urls[name] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            _wait(url)
        timings: dict[str, list[float]] = {name: [] for name in urls}
        lock = threading.Lock()

        def client(share: int) -> None:
            with httpx.Client() as http:
                for url in urls.values():  # warm the connection and the route
                    http.post(url + "/v1/messages", json=BODY)
                for i in range(share):
                    for name in list(urls) if i % 2 else list(urls)[::-1]:
                        started = time.perf_counter()
                        answer = http.post(urls[name] + "/v1/messages", json=BODY)
                        elapsed = (time.perf_counter() - started) * 1000
                        assert answer.status_code == 200, answer.text
                        with lock:
                            timings[name].append(elapsed)

        cpu_before = [_cpu_ns(server.pid) for server in servers]
        loops_before = [_cpu_ns(server.pid, main_only=True) for server in servers]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(client, [requests // threads] * threads))
        cpu = [
            _cpu_ns(server.pid) - before for server, before in zip(servers, cpu_before, strict=True)
        ]
        for name, used in zip(urls, cpu, strict=True):
            timings[f"cpu {name}"] = [used / 1000 / len(timings[name])]
        for name, server, before in zip(urls, servers, loops_before, strict=True):
            used = _cpu_ns(server.pid, main_only=True) - before
            timings[f"loop {name}"] = [used / 1000 / len(timings[name])]
        return timings
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
        upstream.stop()


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per gateway")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--flush-interval", type=float, default=0.5)
    parser.add_argument("--clients", default="1,8", help="client counts to run, e.g. 1,8")
    parser.add_argument("--control", action="store_true", help="both gateways without ledger")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        hook = hook_cost(Path(folder), args.calls)
        print(f"hook: {args.calls} calls, p50 {_p(hook, 50) / 1000:.2f} µs, "
              f"p99 {_p(hook, 99) / 1000:.2f} µs per request")  # fmt: skip
        for threads in map(int, args.clients.split(",")):
            with tempfile.TemporaryDirectory() as run_folder:
                timings = end_to_end(
                    Path(run_folder), args.requests, threads, args.flush_interval, args.control
                )
                with_ledger, without = timings["ledger"], timings["no ledger"]
                print(
                    f"{threads} client(s), {len(with_ledger)} requests each: p50 "
                    f"{_p(with_ledger, 50):.3f} ms with the ledger, {_p(without, 50):.3f} ms "
                    f"without: +{_p(with_ledger, 50) - _p(without, 50):.3f} ms; p90 "
                    f"{_p(with_ledger, 90):.3f} / {_p(without, 90):.3f} ms; gateway CPU per "
                    f"request {timings['cpu ledger'][0]:.0f} µs / "
                    f"{timings['cpu no ledger'][0]:.0f} µs, of which the event loop's thread "
                    f"{timings['loop ledger'][0]:.0f} / {timings['loop no ledger'][0]:.0f} µs"
                )


if __name__ == "__main__":
    main()
