"""Can the load generator saturate the mock? ``python bench/loadgen.py --selftest [-d 3]``.

Starts the mock upstream and the floor app, then measures each at c=32 (JSON) with wrk and with
the Python engine in 1 and 2 processes, printing req/s next to the cores that the load
generator (during its window), the server and other programs used: the numbers behind the
choice explained at the top of loadgen.py. Server cores are averaged over the whole call,
start-up included, so they read a little low.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from loadgen import wrk_available
from measure import Meter
from procs import Servers
from setups import direct_target, start_floor, start_mock

ENGINES = [("wrk -t1", "wrk", 1), ("python x1", "python", 1), ("python x2", "python", 2)]


def selftest(duration: float) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-selftest-") as tmp, Servers(Path(tmp)) as s:
        mock = start_mock(s, "mock")
        floor = start_floor(s, "floor", mock)
        meter = Meter(s, "auto", retries=2)
        print(
            f"{'server':6} {'engine':10} {'c':>3} {'req/s':>7} {'p50 ms':>7} "
            f"{'loadgen':>8} {'server':>7} {'other':>6} {'errors':>6}"
        )
        for server, port in (("mock", mock), ("floor", floor)):
            target = direct_target(port, False)
            meter.warm(target, 32)
            for label, engine, processes in ENGINES:
                if engine == "wrk" and not wrk_available():
                    continue
                m = meter.run(target, 32, duration, engine=engine, processes=processes)
                res = m.result
                print(
                    f"{server:6} {label:10} {32:>3} {res.rps:>7.0f} {res.latency_ms['p50']:>7.2f} "
                    f"{res.cpu_s / res.window_s:>7.2f}c {m.cores[server]:>6.2f}c "
                    f"{m.other:>5.2f}c {res.error_count:>6}"
                )
    return 0
