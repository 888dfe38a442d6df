"""What two Jinja transforms with schemas cost: ``python bench/transforms.py [--duration 3]``.

One gateway (auth and access log on, as in bench/run.py) in front of the mock upstream serves,
from one routes file written to a temp dir with its own transforms/ and schemas/:

    (p)  /v1/messages, anthropic.messages: the passthrough path, the reference
    (t0) /v1/chat/completions, openai.chat: the translating path, no transforms
    (t2) /x/v1/chat/completions: (t0) plus a request template that adds a system prompt and a
         response template that rebuilds the neutral response, each checking an input and an
         output JSON Schema (four validations per request)
    (c)  /x/api/chat, dialect custom: {"prompt"} -> neutral request -> {"response", ...}, both
         templates with schemas (like the repo's /api/chat)

Each is measured with wrk, non-streaming JSON, at c=32 (req/s, the gateway's CPU per request)
and at c=1 (p50 latency), in 3 interleaved repetitions (the order rotates each time), with
bench/run.py's durations, idle-machine waits and retries. The target (the issue): the two
transforms cost under 10% of the passthrough path's req/s, read as (t0 - t2) / p at c=32;
(p - t2) / p is shown beside it. Prints a table and writes bench/results/transforms-<time>.json.
Every process it starts is stopped at the end. Takes about 2 minutes on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadgen import Target
from measure import NOISY_CORES, Measured, Meter
from procs import BENCH, ROOT, Servers, print_server_logs, stop_on_sigterm
from setups import (
    custom_target,
    passthrough_target,
    start_mock,
    start_transforms_gateway,
    transformed_target,
    translating_target,
)

SUBJECTS = ("p", "t0", "t2", "c")
LABELS = {
    "p": "(p) passthrough",
    "t0": "(t0) translating",
    "t2": "(t2) + 2 transforms",
    "c": "(c) custom route",
}
EXPECTED_KEY = {"p": "content", "t0": "choices", "t2": "choices", "c": "response"}
CONCURRENCY = 32
TARGET_SHARE = 0.10
GATEWAY = "gateway"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each subject")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--retries", type=int, default=2, help="re-measure when the machine was busy (times)"
    )
    parser.add_argument(
        "--budget", type=float, default=45.0, help="seconds that waits and retries may add"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-transforms-") as tmp:
        try:
            with Servers(Path(tmp)) as servers:
                runs = _measure(servers, args)
        except KeyboardInterrupt:
            print("\ninterrupted: every server was stopped", file=sys.stderr)
            return 130
        except Exception:
            print_server_logs(Path(tmp))
            raise
    report = _report(runs, args, time.time() - started)
    _print(report)
    path = _save(report, args.out)
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


Runs = dict[str, list[dict[str, Measured]]]  # subject -> one {"c32", "c1"} per repetition


def _measure(servers: Servers, args: argparse.Namespace) -> Runs:
    mock = start_mock(servers, "mock")
    port = start_transforms_gateway(servers, GATEWAY, mock)
    targets: dict[str, Callable[[], Target]] = {
        "p": lambda: passthrough_target(port, False),
        "t0": lambda: translating_target(port, False),
        "t2": lambda: transformed_target(port),
        "c": lambda: custom_target(port),
    }
    for subject in SUBJECTS:
        _check(subject, targets[subject]())
    meter = Meter(servers, "wrk", args.retries, args.budget)
    if meter.engine != "wrk":
        raise SystemExit("wrk is required (apt-get install wrk)")
    runs: Runs = {subject: [] for subject in SUBJECTS}
    for repetition in range(args.repetitions):
        shift = repetition % len(SUBJECTS)
        for subject in SUBJECTS[shift:] + SUBJECTS[:shift]:
            target = targets[subject]()
            _progress(f"repetition {repetition + 1}/{args.repetitions}: {LABELS[subject]}")
            meter.warm(target, CONCURRENCY, args.warmup)
            c32 = meter.run(target, CONCURRENCY, args.duration)
            c1 = meter.run(target, 1, args.duration)
            runs[subject].append({"c32": c32, "c1": c1})
    return runs


def _check(subject: str, target: Target) -> None:
    """One request before measuring: a 200 with the body the client of that route expects."""
    request = urllib.request.Request(target.url, target.body, target.headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.loads(response.read())
    if EXPECTED_KEY[subject] not in body:
        raise RuntimeError(f"{LABELS[subject]}: unexpected answer {body!r}")


# --- the report --------------------------------------------------------------------------------


def _report(runs: Runs, args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    subjects = {subject: _summary(subject, runs[subject]) for subject in SUBJECTS}
    rps = {subject: subjects[subject]["rps_c32"] for subject in SUBJECTS}
    cpu = {subject: subjects[subject]["cpu_us_per_request_c32"] for subject in SUBJECTS}
    p = rps["p"]
    # The same shares within each repetition, whose four runs lie closer in time than the medians.
    per_rep = [{s: runs[s][i]["c32"].result.rps for s in SUBJECTS} for i in range(args.repetitions)]
    shares = {
        "transforms_cost_vs_passthrough": (
            _share(rps["t0"] - rps["t2"], p),
            [_share(r["t0"] - r["t2"], r["p"]) for r in per_rep],
        ),
        "t2_below_passthrough": (
            _share(p - rps["t2"], p),
            [_share(r["p"] - r["t2"], r["p"]) for r in per_rep],
        ),
        "translation_cost_vs_passthrough": (
            _share(p - rps["t0"], p),
            [_share(r["p"] - r["t0"], r["p"]) for r in per_rep],
        ),
        "custom_below_passthrough": (
            _share(p - rps["c"], p),
            [_share(r["p"] - r["c"], r["p"]) for r in per_rep],
        ),
    }
    errors = sum(s["errors"] for s in subjects.values())
    noisy = sum(s["noisy_runs"] for s in subjects.values())
    cost = shares["transforms_cost_vs_passthrough"][0]
    return {
        "meta": _meta(args, elapsed),
        "subjects": subjects,
        "shares": {
            name: {"median_rps_based": value, "per_repetition": each}
            for name, (value, each) in shares.items()
        },
        "cpu_us_per_request_added": {
            "t2_minus_t0": _diff(cpu["t2"], cpu["t0"]),
            "t0_minus_p": _diff(cpu["t0"], cpu["p"]),
            "c_minus_p": _diff(cpu["c"], cpu["p"]),
        },
        "target": {
            "target": f"(t0 - t2) / p at c={CONCURRENCY} < {TARGET_SHARE:.0%}",
            "value": cost,
            "met": cost is not None and cost < TARGET_SHARE and errors == 0,
            "valid": errors == 0,
            "noisy_runs": noisy,
        },
        "runs": {
            subject: [{k: m.to_json() for k, m in rep.items()} for rep in runs[subject]]
            for subject in SUBJECTS
        },
    }


def _summary(subject: str, reps: list[dict[str, Measured]]) -> dict[str, Any]:
    c32 = [rep["c32"] for rep in reps]
    c1 = [rep["c1"] for rep in reps]
    return {
        "label": LABELS[subject],
        "rps_c32": _median([m.result.rps for m in c32]),
        "rps_c32_each": [m.result.rps for m in c32],
        "p50_ms_c32": _median([m.result.latency_ms["p50"] for m in c32]),
        "p99_ms_c32": _median([m.result.latency_ms["p99"] for m in c32]),
        "cpu_us_per_request_c32": _median([m.cpu_us_per_request(GATEWAY) for m in c32]),
        "cpu_us_per_request_c32_each": [m.cpu_us_per_request(GATEWAY) for m in c32],
        "cores_c32": {
            name: _median([m.cores.get(name) for m in c32])
            for name in (GATEWAY, "mock", "loadgen", "other")
        },
        "rps_c1": _median([m.result.rps for m in c1]),
        "p50_ms_c1": _median([m.result.latency_ms["p50"] for m in c1]),
        "p50_ms_c1_each": [m.result.latency_ms["p50"] for m in c1],
        "cpu_us_per_request_c1": _median([m.cpu_us_per_request(GATEWAY) for m in c1]),
        "errors": sum(m.result.error_count for m in c32 + c1),
        "noisy_runs": sum(m.noisy for m in c32 + c1),
    }


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def _share(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else round(part / whole, 4)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 1)


def _meta(args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "gateway"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit,
        "gateway_tree_dirty": bool(dirty),
        "python": platform.python_version(),
        "cores": os.cpu_count() or 0,
        "engine": "wrk",
        "elapsed_s": round(elapsed, 1),
        "args": {k: str(v) for k, v in vars(args).items()},
    }


def _print(report: dict[str, Any]) -> None:
    meta = report["meta"]
    print(
        f"\nTransforms benchmark  commit {meta['commit']}"
        f"{' (gateway/ modified)' if meta['gateway_tree_dirty'] else ''}  python "
        f"{meta['python']}  {meta['cores']} cores  load: wrk  "
        f"medians of {meta['args']['repetitions']} interleaved repetitions"
    )
    print(
        "\n== Non-streaming JSON (req/s and us/req at c=32: the gateway's CPU microseconds per "
        "request; p50 at c=1) =="
    )
    print(
        f"{'path':20} {'req/s c32':>9} {'p50 ms':>7} {'p99 ms':>7} {'us/req':>6} "
        f"{'p50 c1':>7} {'errs':>4}  {'req/s c32 each':22} cores: gw/mock/loadgen/other"
    )
    for subject, s in report["subjects"].items():
        cores = s["cores_c32"]
        each = "/".join(f"{x:.0f}" for x in s["rps_c32_each"])
        print(
            f"{LABELS[subject]:20} {s['rps_c32']:>9.0f} {s['p50_ms_c32']:>7.2f} "
            f"{s['p99_ms_c32']:>7.2f} {_int(s['cpu_us_per_request_c32']):>6} "
            f"{s['p50_ms_c1']:>7.2f} {s['errors']:>4}  {each:22} "
            f"{cores[GATEWAY]:.2f}/{cores['mock']:.2f}/{cores['loadgen']:.2f}/"
            f"{cores['other']:.2f}{' *' if s['noisy_runs'] else ''}"
        )
    print("\n== Shares of the passthrough req/s at c=32 (medians; each repetition's own) ==")
    names = {
        "transforms_cost_vs_passthrough": "(t0 - t2) / p  the two transforms",
        "t2_below_passthrough": "(p - t2) / p   translating + transforms",
        "translation_cost_vs_passthrough": "(p - t0) / p   translating alone",
        "custom_below_passthrough": "(p - c) / p    the custom route",
    }
    for key, label in names.items():
        share = report["shares"][key]
        each = "  ".join(_pct(x) for x in share["per_repetition"])
        print(f"{label:40} {_pct(share['median_rps_based']):>7}   ({each})")
    added = report["cpu_us_per_request_added"]
    print(
        f"\nGateway CPU per request added: transforms (t2 - t0) {_signed(added['t2_minus_t0'])} "
        f"us, translating (t0 - p) {_signed(added['t0_minus_p'])} us, custom route (c - p) "
        f"{_signed(added['c_minus_p'])} us; p itself "
        f"{_int(report['subjects']['p']['cpu_us_per_request_c32'])} us"
    )
    target = report["target"]
    mark = "met   " if target["met"] else ("INVALID" if not target["valid"] else "MISSED")
    print(f"\n== Target ==\n[{mark:7}] {target['target']}: {_pct(target['value'])}")
    if target["noisy_runs"]:
        print(
            f"\n* {target['noisy_runs']} run(s) were measured while other programs used more "
            f"than {NOISY_CORES} cores (after retries): compare them with care"
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _int(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f}"


def _progress(what: str) -> None:
    print(f"  measuring {what} ...", file=sys.stderr, flush=True)


def _save(report: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"transforms-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
