"""What the gateway's per-request bookkeeping costs: ``python bench/feature_cost.py [--pin]``.

The issue 12 targets for JSON at c=32 were set against a gateway that had token auth and an
access log but neither the usage ledger, the Prometheus metrics nor the named keys' limits,
which later issues added. This runs bench/interleaved.py's JSON comparisons (passthrough and
translating, c=32, interleaved with the floor app) for three gateways side by side:

    full        the gateway as it ships (bench/run.py's config: auth and access log on)
    no-ledger   the same with ``usage: {enabled: false}``
    baseline    only the built-ins the issue's baseline had: the sinks, token auth, the
                access log (the metrics, key-limit and usage-ledger plugins not registered)

and prints, per path, each gateway's req/s as a share of the floor's and the CPU time it spent
a request (from /proc, so its own cores' time only). Stops every process it starts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from interleaved import _Measure, _ratios
from loadgen import Target
from procs import Servers, cpu_seconds, free_port, gateway_command, stop_on_sigterm
from setups import (
    BURST_CHUNKS,
    BURST_TEXT,
    direct_target,
    gateway_config,
    gateway_env,
    passthrough_target,
    start_floor,
    start_mock,
    translating_target,
)

# `gateway serve` with only the named built-in plugins registered (by class name).
_SERVE_WITH_BUILTINS = """\
import sys
import gateway.builtin as builtin
keep = set(sys.argv.pop(1).split(","))
every = builtin.default_plugins
builtin.default_plugins = lambda: [p for p in every() if type(p).__name__ in keep]
from gateway.commands.main import main
sys.exit(main())
"""
_BASELINE_BUILTINS = "BuiltinSinks,BuiltinEndpoints,TokenAuth,AccessLog"
_VARIANTS = {
    "full": ("", None),
    "no-ledger": ("usage:\n  enabled: false\n", None),
    "baseline": ("usage:\n  enabled: false\n", _BASELINE_BUILTINS),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per wrk run")
    parser.add_argument("--pin", action="store_true", help="subjects on CPU 0, the rest on 1")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    pins = {"subject": "0", "upstream": "1"} if args.pin else {}
    measure = _Measure(args.duration, pins.get("upstream"))
    with (
        tempfile.TemporaryDirectory(prefix="bench-features-") as tmp,
        Servers(Path(tmp), pins) as servers,
    ):
        mock = start_mock(servers, "mock", chunks=BURST_CHUNKS)
        floor = start_floor(servers, "floor", mock)
        ports = {name: _start(servers, name, mock, *how) for name, how in _VARIANTS.items()}
        print(f"\n== JSON at c=32, median of {args.rounds} interleaved rounds against the floor ==")
        for path, make in (
            ("passthrough", passthrough_target),
            ("translating", translating_target),
        ):
            reference = direct_target(floor, False, BURST_TEXT)
            timed = _CpuPerRequest(measure, {reference.url: servers.pid("floor")})
            for name, port in ports.items():
                subject = make(port, False, BURST_TEXT)
                timed.pids[subject.url] = servers.pid(name)
                shares = [
                    r[0] for r in _ratios(args.rounds, timed.rps, subject, reference, divide=True)
                ]
                print(f"{path:12} {name:10} {statistics.median(shares):5.1%} of the floor "
                      f"[{', '.join(f'{s:.0%}' for s in shares)}], "
                      f"{timed.median_us(subject.url):4.0f} us CPU a request")  # fmt: skip
            print(f"{path:12} {'floor':10} {timed.median_us(reference.url):4.0f} us CPU a request")
    return 0


class _CpuPerRequest:
    """req/s at c=32, noting the CPU time the server behind each URL spent a request."""

    def __init__(self, measure: _Measure, pids: dict[str, int]) -> None:
        self.measure, self.pids = measure, pids
        self.seconds: dict[str, list[float]] = {}

    def rps(self, target: Target) -> float:
        pid = self.pids[target.url]
        before = cpu_seconds(pid)
        served = self.measure.rps(target, 32)
        spent = (cpu_seconds(pid) - before) / (served * self.measure.duration)
        self.seconds.setdefault(target.url, []).append(spent)
        return served

    def median_us(self, url: str) -> float:
        return statistics.median(self.seconds[url]) * 1e6


def _start(servers: Servers, name: str, mock: int, extra: str, builtins: str | None) -> int:
    config = servers.logdir / f"{name}.yaml"
    config.write_text(gateway_config(mock, servers.logdir / f"{name}-access.log") + extra)
    command = [sys.executable, "-c", _SERVE_WITH_BUILTINS, builtins] if builtins else None
    command = command or gateway_command()
    port = free_port()
    servers.start(name, [*command, "serve", "--config", str(config), "--port", str(port)], port,
                  env=gateway_env(), probe="/health")  # fmt: skip
    return port


if __name__ == "__main__":
    sys.exit(main())
