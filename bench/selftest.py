"""Can the load generator saturate the mock? ``python bench/loadgen.py --selftest [-d 3]``.

Starts the mock upstream and the floor app, then measures each at c=32 (JSON) with wrk and with
the Python engine in 1 and 2 processes, printing req/s next to the CPU that the load generator
and the server used: the numbers behind the choice explained at the top of loadgen.py.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from loadgen import Target, run_python, run_wrk, wrk_available
from procs import BENCH, Servers, free_port, python
from stats import Result

BODY = b'{"model":"claude-opus-5-5","max_tokens":16,"messages":[{"role":"user","content":"hello"}]}'


def selftest(duration: float) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-selftest-") as tmp, Servers(Path(tmp)) as s:
        mock_port, floor_port = free_port(), free_port()
        s.start("mock", [python(), "tests/mock_upstream.py", "--port", str(mock_port)], mock_port)
        upstream = f"http://127.0.0.1:{mock_port}"
        s.start(
            "floor",
            [python(), str(BENCH / "floor_app.py"), "--port", str(floor_port),
             "--upstream", upstream],
            floor_port,
            probe="/health",
        )  # fmt: skip
        print(f"{'server':6} {'engine':12} {'c':>3} {'req/s':>8} {'p50 ms':>7} "
              f"{'loadgen cpu':>11} {'server cpu':>10} {'errors':>6}")  # fmt: skip
        for server, port in (("mock", mock_port), ("floor", floor_port)):
            target = Target(
                f"http://127.0.0.1:{port}/v1/messages", BODY, {"content-type": "application/json"}
            )
            engines: list[tuple[str, Callable[[], Result]]] = [
                ("python x1", lambda t=target: run_python(t, 32, duration, 1)),
                ("python x2", lambda t=target: run_python(t, 32, duration, 2)),
            ]
            if wrk_available():
                engines.insert(0, ("wrk -t1", lambda t=target: run_wrk(t, 32, duration, 1)))
                engines.insert(1, ("wrk -t2", lambda t=target: run_wrk(t, 32, duration, 2)))
            for label, measure in engines:
                before, started = s.cpu(), time.monotonic()
                result = measure()
                elapsed = time.monotonic() - started
                used = s.cpu()[server] - before[server]
                print(
                    f"{server:6} {label:12} {32:>3} {result.rps:>8.0f} "
                    f"{result.latency_ms['p50']:>7.2f} {result.cpu_s / result.window_s:>10.2f}c "
                    f"{used / elapsed:>9.2f}c {result.error_count:>6}"
                )
    return 0
