"""The benchmark's results: tables on stdout, the targets, and the JSON written to bench/results."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from measure import NOISY_CORES, Measured

LABELS = {
    "mock": "(a) mock directly",
    "floor": "(b) floor app",
    "passthrough": "(c) gw passthrough",
    "translating": "(d) gw translating",
}
SERVER = {"mock": "mock", "floor": "floor", "passthrough": "gateway", "translating": "gateway"}


@dataclass
class Row:
    subject: str  # a key of LABELS
    mode: str  # json or sse
    concurrency: int
    load: Measured  # req/s and latency (wrk, or the Python engine without wrk)
    ttfb: Measured  # TTFB (Python engine)

    @property
    def errors(self) -> int:
        return self.load.result.error_count + self.ttfb.result.error_count

    @property
    def noisy(self) -> bool:
        return self.load.noisy or self.ttfb.noisy

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "label": LABELS[self.subject],
            "mode": self.mode,
            "concurrency": self.concurrency,
            "rps": self.load.result.rps,
            "latency_p50_ms": self.load.result.latency_ms["p50"],
            "latency_p99_ms": self.load.result.latency_ms["p99"],
            "ttfb_p50_ms": _ttfb(self.ttfb),
            "server_cpu_us_per_request": self.load.cpu_us_per_request(SERVER[self.subject]),
            "errors": self.errors,
            "noisy": self.noisy,
            "load": self.load.to_json(),
            "ttfb": self.ttfb.to_json(),
        }


@dataclass
class Report:
    meta: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    slow: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)

    def row(self, subject: str, mode: str, concurrency: int) -> Row:
        for row in self.rows:
            if (row.subject, row.mode, row.concurrency) == (subject, mode, concurrency):
                return row
        raise KeyError((subject, mode, concurrency))

    def ratios(self) -> list[dict[str, Any]]:
        out = []
        for subject in ("passthrough", "translating"):
            for mode in ("json", "sse"):
                for concurrency in (1, 32):
                    row = self.row(subject, mode, concurrency)
                    floor = self.row("floor", mode, concurrency)
                    mock = self.row("mock", mode, concurrency)
                    out.append({
                        "subject": subject, "mode": mode, "concurrency": concurrency,
                        "vs_floor": _ratio(row.load.result.rps, floor.load.result.rps),
                        "vs_mock": _ratio(row.load.result.rps, mock.load.result.rps),
                        "valid": row.errors + floor.errors + mock.errors == 0,
                        "noisy": row.noisy or floor.noisy or mock.noisy,
                    })  # fmt: skip
        return out

    def added_latency(self) -> list[dict[str, Any]]:
        """p50 at c=1 minus the mock's p50 at c=1 (latency from wrk, TTFB from Python)."""
        out = []
        for subject in ("floor", "passthrough", "translating"):
            for mode in ("json", "sse"):
                row, mock = self.row(subject, mode, 1), self.row("mock", mode, 1)
                latency = row.load.result.latency_ms["p50"] - mock.load.result.latency_ms["p50"]
                ttfb = _diff(_ttfb(row.ttfb), _ttfb(mock.ttfb))
                out.append({
                    "subject": subject, "mode": mode, "added_p50_ms": round(latency, 3),
                    "added_ttfb_p50_ms": ttfb, "valid": row.errors + mock.errors == 0,
                    "noisy": row.noisy or mock.noisy,
                })  # fmt: skip
        return out

    def slow_ratio(self, name: str = "gateway") -> float | None:
        direct, gateway = self.slow.get("direct"), self.slow.get(name)
        if direct is None or gateway is None:
            return None
        return _ratio(gateway.result.rps, direct.result.rps)

    def to_json(self) -> dict[str, Any]:
        slow = {k: (v.to_json() if isinstance(v, Measured) else v) for k, v in self.slow.items()}
        return {
            "meta": self.meta,
            "rows": [row.to_json() for row in self.rows],
            "ratios": self.ratios(),
            "added_latency_c1": self.added_latency(),
            "slow_streams": {
                **slow,
                "gateway_vs_direct": self.slow_ratio(),
                "translating_vs_direct": self.slow_ratio("translating"),
            },
            "targets": self.targets,
        }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def _ttfb(measured: Measured) -> float | None:
    ttfb = measured.result.ttfb_ms
    return None if ttfb is None else ttfb["p50"]


# --- targets -----------------------------------------------------------------------------------

#: The issue's targets (issue 12): req/s at c=32 as a share of the floor app's.
SHARES_OF_FLOOR = {
    ("passthrough", "json"): 0.70,
    ("passthrough", "sse"): 0.70,
    ("translating", "json"): 0.65,
    ("translating", "sse"): 0.50,
}
SLOW_SHARE = 0.85  # 256 slow streams through the gateway, as a share of direct


def evaluate(report: Report) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []

    def check(
        name: str, value: float | None, ok: bool, valid: bool, shown: str, noisy: bool
    ) -> None:
        targets.append({"target": name, "value": value, "met": bool(ok) and valid,
                        "valid": valid, "noisy": noisy, "shown": shown})  # fmt: skip

    ratios = {(r["subject"], r["mode"], r["concurrency"]): r for r in report.ratios()}
    for (subject, mode), share in SHARES_OF_FLOOR.items():
        r = ratios[(subject, mode, 32)]
        value = r["vs_floor"]
        check(
            f"{subject} c=32 {mode}: req/s >= {share:.0%} of the floor",
            value, value is not None and value >= share, r["valid"], _pct(value), r["noisy"],
        )  # fmt: skip
    for added in report.added_latency():
        if added["subject"] == "floor":
            continue
        value = added["added_p50_ms"]
        check(
            f"{added['subject']} {added['mode']}: added p50 latency at c=1 < 1 ms",
            value, value < 1.0, added["valid"], f"{value:+.2f} ms", added["noisy"],
        )  # fmt: skip
    direct = report.slow.get("direct")
    for name, path in (("gateway", "passthrough"), ("translating", "translating")):
        ratio, streamed = report.slow_ratio(name), report.slow.get(name)
        if ratio is None or direct is None or streamed is None:
            continue
        valid = direct.result.error_count + streamed.result.error_count == 0
        check(
            f"256 slow streams, {path}: gateway streams/s >= {SLOW_SHARE:.0%} of direct",
            ratio, ratio >= SLOW_SHARE, valid, _pct(ratio), direct.noisy or streamed.noisy,
        )  # fmt: skip
    ttfb = report.slow.get("ttfb_gateway")
    if ttfb is not None:
        value = _ttfb(ttfb)
        check(
            "32 slow streams: gateway TTFB p50 < 5 ms",
            value, value is not None and value < 5.0, ttfb.result.error_count == 0,
            f"{value:.2f} ms" if value is not None else "-", ttfb.noisy,
        )  # fmt: skip
        direct_ttfb = report.slow.get("ttfb_direct")
        if direct_ttfb is not None:
            added = _diff(value, _ttfb(direct_ttfb))
            check(
                "32 slow streams: gateway TTFB p50 minus direct TTFB p50 < 5 ms "
                "(the same target read as added TTFB: the mock itself waits one interval)",
                added, added is not None and added < 5.0,
                ttfb.result.error_count + direct_ttfb.result.error_count == 0,
                f"{added:+.2f} ms" if added is not None else "-", ttfb.noisy or direct_ttfb.noisy,
            )  # fmt: skip
    return targets


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


# --- printing ----------------------------------------------------------------------------------


def print_report(report: Report) -> None:
    meta = report.meta
    print(
        f"\nGateway benchmark  commit {meta['commit']}  python {meta['python']}  "
        f"{meta['cores']} cores  load: {meta['engine']}  TTFB: {meta['ttfb_engine']}"
    )
    _print_rows(report)
    _print_ratios(report)
    _print_added(report)
    _print_slow(report)
    _print_targets(report)
    invalid = [r for r in report.rows if r.errors]
    if invalid:
        print(f"\n!! {len(invalid)} measurement(s) had errors: not valid, see the JSON")
    if any(_phase(r.ttfb) for r in report.rows):
        print(
            "\n+ TTFB probe requests finished in under half of wrk's p50 latency: they fell "
            "between wrk's lockstep batches at a saturated server, so this TTFB is lower than "
            "what a typical request saw there (for JSON, TTFB ~ the p50 latency)"
        )
    noisy = [r for r in report.rows if r.noisy]
    if noisy:
        print(
            f"\n* {len(noisy)} row(s) were measured while other programs used more than "
            f"{NOISY_CORES} cores (after retries): compare them with care"
        )


def _print_rows(report: Report) -> None:
    print(
        "\n== Throughput and latency (req/s, latency: full response; TTFB: first body byte; "
        "us/req: the server's CPU microseconds per request) =="
    )
    print(
        f"{'path':20} {'mode':4} {'c':>3} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'ttfb50':>8} {'us/req':>6} {'errs':>4}  cores used: server/mock/loadgen/other"
    )
    for row in report.rows:
        res, cores = row.load.result, row.load.cores
        server = SERVER[row.subject]
        upstream = f"{cores.get('mock', 0):.2f}" if server != "mock" else "   -"
        ttfb = _ttfb(row.ttfb)
        print(
            f"{LABELS[row.subject]:20} {row.mode:4} {row.concurrency:>3} {res.rps:>8.0f} "
            f"{res.latency_ms['p50']:>7.2f} {res.latency_ms['p99']:>7.2f} "
            f"{_num(ttfb) + _phase(row.ttfb):>8} {_int(row.load.cpu_us_per_request(server)):>6} "
            f"{row.errors:>4}  "
            f"{cores.get(server, 0):.2f}/{upstream}/{cores['loadgen']:.2f}/{cores['other']:.2f}"
            f"{' *' if row.noisy else ''}"
        )


def _print_ratios(report: Report) -> None:
    print("\n== Gateway req/s as a share of the floor (b) and of the mock (a) ==")
    print(f"{'path':20} {'mode':4} {'c':>3} {'vs floor':>9} {'vs mock':>8}")
    for r in report.ratios():
        flag = ("" if r["valid"] else "  (errors: invalid)") + (" *" if r["noisy"] else "")
        print(
            f"{LABELS[r['subject']]:20} {r['mode']:4} {r['concurrency']:>3} "
            f"{_pct(r['vs_floor']):>9} {_pct(r['vs_mock']):>8}{flag}"
        )


def _print_added(report: Report) -> None:
    print("\n== Added latency at c=1: p50 minus the mock's p50 (direct) ==")
    print(f"{'path':20} {'mode':4} {'latency':>9} {'ttfb':>9}")
    for a in report.added_latency():
        ttfb = a["added_ttfb_p50_ms"]
        print(
            f"{LABELS[a['subject']]:20} {a['mode']:4} {a['added_p50_ms']:>+8.2f}ms "
            f"{(f'{ttfb:+.2f}ms' if ttfb is not None else '-'):>9}{' *' if a['noisy'] else ''}"
        )


def _print_slow(report: Report) -> None:
    slow = report.slow
    cal = slow.get("calibration")
    if not cal:
        return
    print(
        f"\n== Slow streams: {cal['events']} events, one every {cal['event_interval_ms']} ms, "
        f"{cal['stream_ms']} ms per stream alone (ideal at 256: "
        f"{cal['ideal_streams_per_s']:.0f} streams/s) =="
    )
    print(
        f"{'path':20} {'c':>4} {'streams/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'ttfb50':>7} "
        f"{'us/req':>6} {'errs':>4}  cores used: server/mock/loadgen/other"
    )
    for name, label, server in (
        ("direct", "mock directly", "slow-mock"),
        ("floor", "floor app", "slow-floor"),
        ("gateway", "gw passthrough", "slow-gateway"),
        ("translating", "gw translating", "slow-gateway"),
    ):
        for key in (name, f"ttfb_{name}"):
            measured: Measured | None = slow.get(key)
            if measured is None:
                continue
            res, cores = measured.result, measured.cores
            upstream = f"{cores.get('slow-mock', 0):.2f}" if server != "slow-mock" else "   -"
            print(
                f"{label:20} {res.concurrency:>4} {res.rps:>9.0f} {res.latency_ms['p50']:>7.1f} "
                f"{res.latency_ms['p99']:>7.1f} {_num(_ttfb(measured)):>7} "
                f"{_int(measured.cpu_us_per_request(server)):>6} "
                f"{res.error_count:>4}  {cores.get(server, 0):.2f}/{upstream}/"
                f"{cores['loadgen']:.2f}/{cores['other']:.2f}  ({res.engine})"
                f"{' *' if measured.noisy else ''}"
            )
    floor = slow.get("floor")
    vs_floor = _ratio(slow["gateway"].result.rps, floor.result.rps) if floor else None
    print(
        f"gateway / direct streams/s at 256: passthrough {_pct(report.slow_ratio())}, "
        f"translating {_pct(report.slow_ratio('translating'))}; "
        f"passthrough / floor: {_pct(vs_floor)}"
    )
    gateway, direct = slow.get("ttfb_gateway"), slow.get("ttfb_direct")
    if gateway is not None and direct is not None:
        g, d = _ttfb(gateway), _ttfb(direct)
        gh, dh = _headers(gateway), _headers(direct)
        print(
            f"TTFB p50 at 32 streams: gateway {_num(g)} ms, direct {_num(d)} ms "
            f"(added {_num(_diff(g, d))} ms); response headers p50: gateway {_num(gh)} ms, "
            f"direct {_num(dh)} ms. The mock sleeps {cal['event_interval_ms']} ms before its "
            "first event too, so TTFB includes one event interval."
        )


def _print_targets(report: Report) -> None:
    print("\n== Targets ==")
    for t in report.targets:
        mark = "met   " if t["met"] else ("INVALID" if not t["valid"] else "MISSED")
        noisy = "  (* busy machine)" if t["noisy"] else ""
        print(f"[{mark:7}] {t['target']}: {t['shown']}{noisy}")


def print_medians(reports: list[Report]) -> None:
    """Each target's median over the rounds, with every round's value (how noisy it was)."""
    print(f"\n== Targets: medians of {len(reports)} rounds (each round's value in brackets) ==")
    for i, target in enumerate(reports[0].targets):
        values = [r.targets[i]["value"] for r in reports if i < len(r.targets)]
        values = [v for v in values if v is not None]
        if not values:
            continue
        median = statistics.median(values)
        met = _met(target["target"], median)
        shown = ", ".join(_shown(target["target"], v) for v in values)
        noisy = sum(r.targets[i]["noisy"] for r in reports if i < len(r.targets))
        print(
            f"[{'met' if met else 'MISSED':7}] {target['target']}: "
            f"{_shown(target['target'], median)} [{shown}]"
            f"{f'  ({noisy} busy)' if noisy else ''}"
        )


def _met(name: str, value: float) -> bool:
    """Read from the target's own words: ">= N%" of a reference, or "< N ms"."""
    if "%" in name:
        return value >= float(name.split(">= ")[1].split("%")[0]) / 100
    return value < float(name.split("< ")[1].split(" ms")[0])


def _shown(name: str, value: float) -> str:
    return _pct(value) if "%" in name else f"{value:+.2f} ms"


def _headers(measured: Measured) -> float | None:
    """p50 time to the response headers, from the Python engine (or the probe beside wrk)."""
    extra = measured.result.extra
    extra = extra.get("probe", {}).get("extra", extra)
    return (extra.get("headers_ms") or {}).get("p50")


def _phase(measured: Measured) -> str:
    """'+' when the TTFB probe was served far faster than wrk's requests (see loadgen)."""
    ratio = measured.result.extra.get("probe_vs_wrk")
    return "+" if ratio is not None and ratio < 0.5 else ""


def _int(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
