"""What traces cost: the import, the recording of one request, and throughput.

1. Import: the modules tracing adds (the trace SDK, the OTLP exporter, gateway.tracing.spans)
   in a fresh interpreter that already imported the gateway, best of 5; off, none is imported.
2. The hook: ``SpanRecorder.record`` of a finished two-attempt exchange, per call (the batch
   processor exports from its thread meanwhile, to a receiver here).
3. Throughput: three `gateway serve` processes on the same routes in front of the mock upstream,
   tracing off, off with no OTEL_ variable at all, and on (to an OTLP/HTTP receiver that only
   counts); rounds of requests from 8 clients alternate between them, and the median req/s of
   each is reported with the ratio to "off".

    .venv/bin/python bench/tracing_cost.py [--requests 1500] [--rounds 5] [--calls 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "teams"))
sys.path.insert(0, str(ROOT))
from mock_upstream import MockUpstream  # noqa: E402
from real_servers import GatewayProcess  # noqa: E402

from gateway import ir  # noqa: E402
from gateway.exchange import Attempt, Exchange  # noqa: E402

ROUTES = """
version: 1
sinks:
  up: {{kind: http, base_url: "{upstream}", dialect: anthropic.messages}}
models:
  - name: opus
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
access_log: {{enabled: false}}
usage: {{enabled: false}}
tracing: {tracing}
"""
BODY = {"model": "opus", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


class Receiver:
    def __init__(self) -> None:
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                receiver.posts += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def imports() -> float:
    probe = (
        "import time, gateway.app, gateway.server.services; t = time.perf_counter(); "
        "import gateway.tracing.spans; print(time.perf_counter() - t)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    runs = [float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                 cwd=ROOT, env=env, check=True).stdout) for _ in range(5)]  # fmt: skip
    return min(runs)


def hook(calls: int, receiver: Receiver) -> float:
    from gateway.tracing.settings import TracingSettings
    from gateway.tracing.spans import SpanRecorder

    recorder = SpanRecorder(TracingSettings(True, receiver.url + "/v1/traces"))
    now = time.perf_counter()
    exchange = Exchange("abc", "POST", "/v1/messages", {"x-claude-code-session-id": "s"}, "::1")
    exchange.started, exchange.first_byte, exchange.finished = now, now + 0.1, now + 0.5
    exchange.route, exchange.endpoint, exchange.model = "/v1/messages", "anthropic.messages", "o"
    exchange.status, exchange.usage = 200, ir.Usage(10, 20)
    exchange.attempts = [Attempt("a", "m", now, now + 0.01, "connect"), Attempt("b", "m", now)]
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        recorder.record(exchange)
        times.append(time.perf_counter_ns() - start)
    recorder.close()
    times.sort()
    return times[len(times) // 2] / 1000, times[int(len(times) * 0.99)] / 1000


def throughput(requests: int, rounds: int, receiver: Receiver) -> dict[str, list[float]]:
    mock = MockUpstream().start()
    folder = Path(tempfile.mkdtemp(prefix="tracing-bench-"))
    setups = {
        "off": "{enabled: false}",
        "absent": "{}",
        "on": f"{{endpoint: '{receiver.url}/v1/traces'}}",
    }
    gateways = {}
    for name, tracing in setups.items():
        path = folder / f"{name}.yaml"
        path.write_text(ROUTES.format(upstream=mock.base_url, tracing=tracing))
        gateways[name] = GatewayProcess(path).start()
    try:
        for gateway in gateways.values():
            gateway.wait_ready()
        seen: dict[str, list[float]] = {name: [] for name in gateways}
        for _ in range(rounds):
            for name, gateway in gateways.items():
                seen[name].append(_rate(gateway.url, requests))
        return seen
    finally:
        for gateway in gateways.values():
            gateway.stop()
        mock.stop()


def _rate(url: str, requests: int) -> float:
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "x"}

    def worker(count: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for _ in range(count):
                client.post("/v1/messages", json=BODY).raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, [requests // 8] * 8))
    return (requests // 8 * 8) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    receiver = Receiver()
    print(f"import of what tracing adds (best of 5): {imports() * 1000:.1f} ms")
    p50, p99 = hook(args.calls, receiver)
    print(f"recording one request (2 attempts, 3 spans): p50 {p50:.1f} us, p99 {p99:.1f} us")
    seen = throughput(args.requests, args.rounds, receiver)
    base = statistics.median(seen["off"])
    for name, rates in seen.items():
        median = statistics.median(rates)
        print(f"tracing {name:6}: {median:7.0f} req/s (runs {', '.join(f'{r:.0f}' for r in rates)})"
              f"  {median / base:.3f} of off")  # fmt: skip
    print(f"OTLP posts received: {receiver.posts}")


if __name__ == "__main__":
    main()
