"""What routing across targets costs: ``python bench/routing.py --reference TREE [--pin]``.

1. A model with one target, against the same gateway before routing existed: passthrough and
   translating JSON at c=32, this checkout's gateway interleaved with the one of ``--reference``
   (a checkout of an earlier commit, e.g. ``git worktree add /tmp/ref d2ad8a4``), both serving
   bench/run.py's config against one mock. Target: under 2% fewer req/s.
2. A fallback after a refused connection: p50 at c=1 of a model whose first target is a port
   nothing listens on, minus the p50 of the same model with only the target that answers.
   Target: under 5 ms added.

Prints the medians with every round (bench/interleaved.py's method) and stops what it starts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from feature_cost import _CpuPerRequest
from interleaved import _entry, _Measure, _print, _ratios
from loadgen import Target
from procs import Servers, free_port, gateway_command, stop_on_sigterm
from setups import (
    BURST_CHUNKS,
    BURST_TEXT,
    JSON_HEADERS,
    TOKEN,
    UPSTREAM_MODEL,
    base_url,
    gateway_config,
    gateway_env,
    messages_body,
    passthrough_target,
    start_mock,
    translating_target,
)

# Two more models on the bench config: the answering target alone, and after a dead one.
_ROUTED_MODELS = """\
  - name: alone
    target: {model}
  - name: fallback
    target: {model}
    targets: [{{sink: dead}}, {{sink: up}}]
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True,
                        help="a checkout of the gateway before routing, to compare with")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--pin", action="store_true", help="subjects on CPU 0, the rest on 1")
    parser.add_argument("--one-target", action="store_true",
                        help="only the one-target comparison, on a config any checkout reads "
                        "(to compare two checkouts from before routing)")  # fmt: skip
    args = parser.parse_args(argv)
    stop_on_sigterm()
    pins = {"subject": "0", "upstream": "1"} if args.pin else {}
    measure = _Measure(args.duration, pins.get("upstream"))
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp,
        Servers(Path(tmp), pins) as servers,
    ):
        mock = start_mock(servers, "mock", chunks=BURST_CHUNKS)
        here = _gateway(servers, "routed", mock, Path(tmp), routed=not args.one_target)
        before = _gateway(servers, "before", mock, Path(tmp), cwd=args.reference.resolve())
        cpu_lines: list[str] = []
        for path, make in (
            ("passthrough", passthrough_target),
            ("translating", translating_target),
        ):
            print(f"  measuring {path} json c=32, one target vs before", file=sys.stderr)
            subject, reference = make(here, False, BURST_TEXT), make(before, False, BURST_TEXT)
            # Each server's own CPU time a request, from /proc: what other programs on the
            # machine do changes its req/s far more than it changes this.
            timed = _CpuPerRequest(measure, {subject.url: servers.pid("routed"),
                                             reference.url: servers.pid("before")})  # fmt: skip
            values = _ratios(args.rounds, timed.rps, subject, reference, divide=True)
            results.append(_entry(f"{path} c=32 json, one target: req/s >= 98% of before",
                                  values, 0.98))  # fmt: skip
            cpu_lines.append(f"{path}: {timed.median_us(subject.url):.0f} us CPU a request now, "
                             f"{timed.median_us(reference.url):.0f} before")  # fmt: skip
        if args.one_target:
            _print(results, args)
            print("\n".join(cpu_lines))
            return 0
        print("  measuring a fallback after a refused connection, c=1", file=sys.stderr)
        values = _ratios(args.rounds, measure.p50, _model(here, "fallback"), _model(here, "alone"),
                         divide=False)  # fmt: skip
        results.append(_entry("fallback after a refused connection: added p50 < 5 ms", values,
                              5.0))  # fmt: skip
    _print(results, args)
    print("\n".join(cpu_lines))
    return 0


def _gateway(
    servers: Servers, name: str, mock: int, tmp: Path, *, routed: bool = False,
    cwd: Path | None = None,
) -> int:  # fmt: skip
    config = tmp / f"{name}.yaml"
    text = gateway_config(mock, tmp / f"{name}-access.log")
    if routed:
        dead = f"  dead:\n    kind: http\n    base_url: http://127.0.0.1:{free_port()}\n" \
               "    dialect: anthropic.messages\n"  # fmt: skip
        text = text.replace("models:\n", dead + "models:\n", 1)
        text = text.replace("routes:\n", _ROUTED_MODELS.format(model=UPSTREAM_MODEL) + "routes:\n")
    config.write_text(text)
    port = free_port()
    entry = gateway_command()
    if cwd is not None and (cwd / "gateway" / "cli.py").exists():  # a checkout before the layout
        entry = [*entry[:2], "import sys; from gateway.cli import main; sys.exit(main())"]
    command = [*entry, "serve", "--config", str(config), "--port", str(port)]
    extra = {"cwd": cwd} if cwd is not None else {}
    servers.start(name, command, port, env=gateway_env(), probe="/health", **extra)
    return port


def _model(port: int, model: str) -> Target:
    headers = {**JSON_HEADERS, "x-api-key": TOKEN}
    body = messages_body(model, False, BURST_TEXT)
    return Target(f"{base_url(port)}/v1/messages", body, headers)


if __name__ == "__main__":
    sys.exit(main())
