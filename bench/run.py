"""The gateway benchmark: ``python bench/run.py [--duration 3] [--slow-duration 5]``.

Starts on 127.0.0.1 the mock upstream, the floor app (bench/floor_app.py) and the gateway, then
measures at concurrency 1 and 32, JSON and SSE:

    (a) the mock directly     (b) the floor app     (c) the gateway's passthrough path
    (d) the gateway's translating path (OpenAI Chat client, Anthropic upstream)

SSE answers are 50-event bursts (the mock writes them without pauses). Then the slow-stream
scenario (an event every 5 ms, ~260 ms per stream, 256 streams at once, through the gateway's
passthrough and translating paths, through the floor app and directly; TTFB with 32).
``--pin`` runs the subjects (floor app, gateway) on CPU 0 and the mock and the load generator
on CPU 1, so that the subjects compare on the same core.
Requests/s and latency come from wrk, TTFB from a Python client (see bench/loadgen.py); every
row also shows the cores each process used, and "other" for programs outside the benchmark.
Prints tables and writes the same numbers to bench/results/run-<time>.json. Every process it
starts is stopped at the end, also on an error, Ctrl-C or SIGTERM. The default run takes about
2.5 minutes on a quiet machine (waits and re-measurements on a busy one add at most --budget).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadgen import Target
from measure import Measured, Meter
from procs import BENCH, ROOT, Servers, print_server_logs, stop_on_sigterm
from report import Report, Row, evaluate, print_medians, print_report
from setups import (
    BURST_CHUNKS,
    BURST_TEXT,
    SLOW_CHUNKS,
    SLOW_DELAY,
    SLOW_TEXT,
    direct_target,
    passthrough_target,
    start_floor,
    start_gateway,
    start_mock,
    translating_target,
)

CONCURRENCIES = (1, 32)
MODES = ("json", "sse")
SLOW_STREAMS = 256
SLOW_TTFB_STREAMS = 32
SLOW_PROBES = 8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    parser.add_argument(
        "--ttfb-duration", type=float, default=1.5, help="seconds per Python (TTFB) run"
    )
    parser.add_argument(
        "--slow-duration", type=float, default=5.0, help="seconds per slow-stream run"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each series")
    parser.add_argument("--engine", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--retries", type=int, default=2, help="re-measure when the machine was busy (times)"
    )
    parser.add_argument(
        "--budget", type=float, default=45.0, help="seconds that waits and retries may add"
    )
    parser.add_argument(
        "--pin", action="store_true", help="subjects on CPU 0; the mock and load on CPU 1"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="whole runs; the targets' medians are printed"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    started = time.time()
    pins = {"subject": "0", "upstream": "1"} if args.pin else {}
    reports = []
    for _ in range(max(1, args.rounds)):
        with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
            servers = Servers(Path(tmp), pins)
            try:
                with servers:
                    report = _run(servers, args)
            except KeyboardInterrupt:
                print("\ninterrupted: every server was stopped", file=sys.stderr)
                return 130
            except Exception:
                print_server_logs(Path(tmp))
                raise
        report.meta["elapsed_s"] = round(time.time() - started, 1)
        print_report(report)
        path = _save(report, args.out)
        print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        reports.append(report)
    if len(reports) > 1:
        print_medians(reports)
    return 0


def _run(servers: Servers, args: argparse.Namespace) -> Report:
    meter = Meter(servers, args.engine, args.retries, args.budget)
    report = Report(meta=_meta(args, meter.engine))
    _fast_phase(servers, meter, args, report)
    _slow_phase(servers, meter, args, report)
    report.targets = evaluate(report)
    return report


def _fast_phase(servers: Servers, meter: Meter, args: argparse.Namespace, report: Report) -> None:
    mock = start_mock(servers, "mock", chunks=BURST_CHUNKS)
    floor = start_floor(servers, "floor", mock)
    gateway = start_gateway(servers, "gateway", mock)
    text = BURST_TEXT
    subjects: list[tuple[str, Callable[[bool], Target]]] = [
        ("mock", lambda stream: direct_target(mock, stream, text)),
        ("floor", lambda stream: direct_target(floor, stream, text)),
        ("passthrough", lambda stream: passthrough_target(gateway, stream, text)),
        ("translating", lambda stream: translating_target(gateway, stream, text)),
    ]
    for subject, target_of in subjects:
        for mode in MODES:
            target = target_of(mode == "sse")
            _progress(f"{subject} {mode}")
            meter.warm(target, max(CONCURRENCIES), args.warmup)
            for concurrency in CONCURRENCIES:
                report.rows.append(_cell(meter, subject, mode, target, concurrency, args))
    for name in ("gateway", "floor", "mock"):
        servers.stop(name)


def _cell(
    meter: Meter,
    subject: str,
    mode: str,
    target: Target,
    concurrency: int,
    args: argparse.Namespace,
) -> Row:
    """At c=1 wrk, then Python for TTFB; above, wrk with a Python TTFB probe among its requests."""
    if meter.engine == "wrk" and concurrency > 1:
        load = meter.run(target, concurrency, args.duration, engine="wrk+probe")
        return Row(subject, mode, concurrency, load, load)
    load = meter.run(target, concurrency, args.duration)
    if meter.engine == "python":
        return Row(subject, mode, concurrency, load, load)
    ttfb = meter.run(target, concurrency, args.ttfb_duration, engine="python")
    return Row(subject, mode, concurrency, load, ttfb)


def _slow_phase(servers: Servers, meter: Meter, args: argparse.Namespace, report: Report) -> None:
    mock = start_mock(servers, "slow-mock", delay=SLOW_DELAY, chunks=SLOW_CHUNKS)
    floor = start_floor(servers, "slow-floor", mock)
    gateway = start_gateway(servers, "slow-gateway", mock)
    direct = direct_target(mock, True, SLOW_TEXT)
    floored = direct_target(floor, True, SLOW_TEXT)
    relayed = passthrough_target(gateway, True, SLOW_TEXT)
    translated = translating_target(gateway, True, SLOW_TEXT)
    _progress("slow streams")
    report.slow["calibration"] = _calibrate(direct)
    results: dict[str, Measured] = {}
    for name, target in (
        ("direct", direct), ("floor", floored), ("gateway", relayed), ("translating", translated)
    ):  # fmt: skip
        meter.warm(target, SLOW_STREAMS, args.warmup)
        results[name] = meter.run(target, SLOW_STREAMS, args.slow_duration)
        if name in ("floor", "translating"):
            continue
        # Not saturated: 8 Python streams among wrk's 24 give enough TTFB samples.
        engine = "wrk+probe" if meter.engine == "wrk" else "python"
        results[f"ttfb_{name}"] = meter.run(
            target, SLOW_TTFB_STREAMS, args.slow_duration, engine=engine, probes=SLOW_PROBES
        )
    report.slow.update(results)
    for name in ("slow-gateway", "slow-floor", "slow-mock"):
        servers.stop(name)


def _calibrate(target: Target) -> dict[str, float]:
    """One stream straight from the slow mock, timed from here: its events and their pacing."""
    request = urllib.request.Request(target.url, target.body, target.headers, method="POST")
    started = time.perf_counter()
    events = 0
    with urllib.request.urlopen(request, timeout=10) as response:
        for line in response:
            events += line.startswith(b"event:")
    seconds = time.perf_counter() - started
    return {
        "events": events,
        "stream_ms": round(seconds * 1000, 1),
        "event_interval_ms": round(seconds * 1000 / max(events, 1), 2),
        "ideal_streams_per_s": round(SLOW_STREAMS / seconds, 1),
    }


def _meta(args: argparse.Namespace, engine: str) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit,
        "python": platform.python_version(),
        "cores": _cores(),
        "engine": engine,
        "ttfb_engine": "python x1 (aiohttp)",
        "args": {k: str(v) for k, v in vars(args).items()},
    }


def _cores() -> int:
    return os.cpu_count() or 0


def _progress(what: str) -> None:
    print(f"  measuring {what} ...", file=sys.stderr, flush=True)


def _save(report: Report, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
