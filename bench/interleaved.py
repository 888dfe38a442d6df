"""The issue's ratios on a shared machine: ``python bench/interleaved.py [--rounds 5] [--pin]``.

bench/run.py measures every subject once, one after the other; when other programs load the
machine unevenly, the floor and the gateway are measured under different loads and their ratio
means little. Here each comparison alternates short wrk runs of the reference and the subject
(reference, subject, reference), ``--rounds`` times, and takes the subject against the mean of
the two references around it; the median over rounds is reported with every round's value, so
the spread shows how noisy the machine was. The servers are bench/run.py's (50-event burst
streams, auth and access log on), started once:

    req/s at c=32: passthrough JSON/SSE and translating JSON/SSE against the floor app
    p50 at c=1: every path minus the mock's own p50 (added latency)
    256 slow streams: passthrough and translating against the mock directly, and the floor
        app against the mock (no target: what a bare relay reaches, for reference)

Prints a table and writes bench/results/interleaved-<time>.json; stops every process it starts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadgen import Target, cli_args, run_cli
from procs import BENCH, Servers, stop_on_sigterm
from report import SHARES_OF_FLOOR, SLOW_SHARE
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per wrk run")
    parser.add_argument("--pin", action="store_true", help="subjects on CPU 0, the rest on 1")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    pins = {"subject": "0", "upstream": "1"} if args.pin else {}
    measure = _Measure(args.duration, pins.get("upstream"))
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-interleaved-") as tmp,
        Servers(Path(tmp), pins) as servers,
    ):
        mock = start_mock(servers, "mock", chunks=BURST_CHUNKS)
        floor = start_floor(servers, "floor", mock)
        gateway = start_gateway(servers, "gateway", mock)
        results += _fast(measure, args.rounds, mock, floor, gateway)
        for name in ("gateway", "floor", "mock"):
            servers.stop(name)
        mock = start_mock(servers, "slow-mock", delay=SLOW_DELAY, chunks=SLOW_CHUNKS)
        floor = start_floor(servers, "slow-floor", mock)
        gateway = start_gateway(servers, "slow-gateway", mock)
        results += _slow(measure, args.rounds, mock, floor, gateway)
    _print(results, args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"interleaved-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "results": results},
                               indent=2) + "\n")  # fmt: skip
    print(f"\nresults: {path}")
    return 0


class _Measure:
    def __init__(self, duration: float, cpus: str | None) -> None:
        self.duration, self.cpus = duration, cpus

    def rps(self, target: Target, concurrency: int) -> float:
        return self._run(target, concurrency).rps

    def p50(self, target: Target) -> float:
        return self._run(target, 1).latency_ms["p50"] or 0.0

    def _run(self, target: Target, concurrency: int) -> Any:
        args = cli_args(target, concurrency, self.duration, engine="wrk")
        result = run_cli(args, timeout=self.duration + 60, cpus=self.cpus)
        if result.error_count:
            raise RuntimeError(f"errors measuring {target.url}: {result.errors}")
        return result


def _fast(measure: _Measure, rounds: int, mock: int, floor: int, gateway: int) -> list[dict]:
    out = []
    for (path, mode), share in SHARES_OF_FLOOR.items():
        stream = mode == "sse"
        make = passthrough_target if path == "passthrough" else translating_target
        subject, reference = (
            make(gateway, stream, BURST_TEXT),
            direct_target(floor, stream, BURST_TEXT),
        )
        _progress(f"{path} {mode} c=32 vs floor")
        values = _ratios(rounds, lambda t: measure.rps(t, 32), subject, reference, divide=True)
        out.append(_entry(f"{path} c=32 {mode}: req/s >= {share:.0%} of the floor", values, share))
    for path, make in (("passthrough", passthrough_target), ("translating", translating_target)):
        for mode in ("json", "sse"):
            stream = mode == "sse"
            subject, reference = (
                make(gateway, stream, BURST_TEXT),
                direct_target(mock, stream, BURST_TEXT),
            )
            _progress(f"{path} {mode} c=1 added p50")
            values = _ratios(rounds, measure.p50, subject, reference, divide=False)
            out.append(_entry(f"{path} {mode}: added p50 latency at c=1 < 1 ms", values, 1.0))
    return out


def _slow(measure: _Measure, rounds: int, mock: int, floor: int, gateway: int) -> list[dict]:
    out = []
    direct = direct_target(mock, True, SLOW_TEXT)
    # No target: what any Sanic + aiohttp relay reaches here, so that the gateway's share can
    # be read against it (relaying an event costs about what the mock spends making it).
    _progress("256 slow streams floor vs direct")
    values = _ratios(rounds, lambda t: measure.rps(t, 256), direct_target(floor, True, SLOW_TEXT),
                     direct, divide=True)  # fmt: skip
    out.append(_entry("256 slow streams, the floor app (for reference): streams/s vs direct",
                      values, None))  # fmt: skip
    for path, make in (("passthrough", passthrough_target), ("translating", translating_target)):
        _progress(f"256 slow streams {path} vs direct")
        values = _ratios(
            rounds,
            lambda t: measure.rps(t, 256),
            make(gateway, True, SLOW_TEXT),
            direct,
            divide=True,
        )
        out.append(_entry(f"256 slow streams, {path}: streams/s >= {SLOW_SHARE:.0%} of direct",
                          values, SLOW_SHARE))  # fmt: skip
    return out


def _ratios(
    rounds: int,
    measure: Callable[[Target], float],
    subject: Target,
    reference: Target,
    *,
    divide: bool,
) -> list[tuple[float, float, float]]:
    """Per round: (subject / reference or subject - reference, subject, mean reference)."""
    measure(subject), measure(reference)  # warm-up: connections and pools
    values = []
    before = measure(reference)
    for _ in range(rounds):
        value = measure(subject)
        after = measure(reference)
        mean = (before + after) / 2
        values.append((value / mean if divide else value - mean, value, mean))
        before = after
    return values


def _entry(
    name: str, values: list[tuple[float, float, float]], bound: float | None
) -> dict[str, Any]:
    ratios = [v[0] for v in values]
    median = statistics.median(ratios)
    met = None if bound is None else (median >= bound if "%" in name else median < bound)
    return {"target": name, "median": round(median, 3), "met": met,
            "rounds": [[round(x, 3) for x in v] for v in values]}  # fmt: skip


def _print(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\n== Interleaved: median of {args.rounds} rounds of {args.duration:g} s wrk runs "
          f"(each round: subject / mean of the references before and after it) ==")  # fmt: skip
    for r in results:
        latency = "%" not in r["target"] and "vs direct" not in r["target"]
        shown = (lambda v: f"{v:+.2f} ms") if latency else (lambda v: f"{v:.0%}")
        rounds = ", ".join(shown(v[0]) for v in r["rounds"])
        raw = (
            statistics.median(v[1] for v in r["rounds"]),
            statistics.median(v[2] for v in r["rounds"]),
        )
        unit = "ms" if latency else "/s"
        verdict = "info" if r["met"] is None else "met" if r["met"] else "MISSED"
        print(f"[{verdict:6}] {r['target']}: {shown(r['median'])}  "
              f"[{rounds}]  (subject {raw[0]:.2f}{unit}, reference {raw[1]:.2f}{unit})")  # fmt: skip


def _progress(what: str) -> None:
    print(f"  measuring {what} ...", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
