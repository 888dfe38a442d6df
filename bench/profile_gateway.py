"""Where the gateway spends its CPU under load: ``python bench/profile_gateway.py passthrough-json``.

Starts the mock and the gateway, loads the gateway with wrk (a separate process) and samples
the gateway process with py-spy (``pip install py-spy``) meanwhile, non-blocking, counting
only samples where the gateway is on the CPU. Prints the top functions by own time and by
inclusive time, and the share per package; the raw stacks go to bench/results/ (open them
with any flamegraph tool, or ``py-spy record --format speedscope`` them yourself).

``transformed-json`` and ``custom-json`` load the routes of bench/transforms.py: the
translating path with two Jinja transforms and schemas, and a custom route.

``--floor`` profiles the floor app (bench/floor_app.py) under the same load instead, as the
baseline that any Sanic + aiohttp hop costs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from loadgen import Target, cli_args, run_cli
from procs import BENCH, Servers, cpu_seconds, stop_on_sigterm
from setups import (
    BURST_CHUNKS,
    BURST_TEXT,
    SLOW_CHUNKS,
    SLOW_DELAY,
    SLOW_TEXT,
    custom_target,
    direct_target,
    passthrough_target,
    start_floor,
    start_gateway,
    start_mock,
    start_transforms_gateway,
    transformed_target,
    translating_target,
)

SCENARIOS = (
    "passthrough-json",
    "passthrough-sse",
    "translating-json",
    "translating-sse",
    "slow-passthrough",
    "transformed-json",
    "custom-json",
)
TRANSFORMED = ("transformed-json", "custom-json")  # served by bench/transforms.py's gateway


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("-c", "--concurrency", type=int, default=None, help="32; 256 for slow")
    parser.add_argument("-d", "--duration", type=float, default=8.0, help="seconds sampled")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--floor", action="store_true", help="profile the floor app instead (a baseline)"
    )
    args = parser.parse_args(argv)
    stop_on_sigterm()
    if args.floor and (args.scenario.startswith("translating") or args.scenario in TRANSFORMED):
        parser.error("the floor app has no translating path")
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        parser.error("py-spy is not installed: pip install py-spy")
    slow = args.scenario == "slow-passthrough"
    concurrency = args.concurrency or (256 if slow else 32)
    out = BENCH / "results"
    out.mkdir(parents=True, exist_ok=True)
    subject = "floor" if args.floor else "gateway"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = out / f"profile-{subject}-{args.scenario}-c{concurrency}-{stamp}.txt"
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, Servers(Path(tmp)) as s:
        mock = (
            start_mock(s, "mock", delay=SLOW_DELAY, chunks=SLOW_CHUNKS)
            if slow
            else start_mock(s, "mock", chunks=BURST_CHUNKS)
        )
        if args.floor:
            port = start_floor(s, subject, mock)
            target = direct_target(port, args.scenario != "passthrough-json", _text(args.scenario))
        elif args.scenario in TRANSFORMED:
            port = start_transforms_gateway(s, subject, mock)
            custom = args.scenario == "custom-json"
            target = custom_target(port) if custom else transformed_target(port)
        else:
            target = _target(args.scenario, start_gateway(s, subject, mock))
        run_cli(cli_args(target, concurrency, 1.0), timeout=60)  # warm-up
        load = _load_in_background(target, concurrency, args.duration + 2)
        time.sleep(0.5)
        cpu_before, wall_before = cpu_seconds(s.pid(subject)), time.monotonic()
        subprocess.run(
            [py_spy, "record", "--pid", str(s.pid(subject)), "--duration",
             str(round(args.duration)), "--rate", str(args.rate), "--nonblocking",
             "--function", "--full-filenames", "--format", "raw", "--output", str(raw)],
            check=True, capture_output=True, timeout=args.duration + 60,
        )  # fmt: skip
        cores = (cpu_seconds(s.pid(subject)) - cpu_before) / (time.monotonic() - wall_before)
        load.join(args.duration + 60)
    stacks = _read(raw)
    print(
        f"{subject}, scenario {args.scenario}, c={concurrency}: "
        f"{sum(stacks.values())} samples on CPU"
    )
    if hasattr(load, "result"):
        result = load.result
        print(
            f"load meanwhile: {result.rps:.0f} req/s, {result.error_count} errors; {subject} used "
            f"{cores:.2f} cores, ~{cores / result.rps * 1e6:.0f} CPU us per request "
            "(py-spy's sampling included)"
        )
    _print_top(stacks, args.top)
    print(f"\nraw stacks: {raw}")
    return 0


def _text(scenario: str) -> str:
    return SLOW_TEXT if scenario == "slow-passthrough" else BURST_TEXT


def _target(scenario: str, port: int) -> Target:
    if scenario == "slow-passthrough":
        return passthrough_target(port, True, SLOW_TEXT)
    path, mode = scenario.split("-")
    stream = mode == "sse"
    return (
        passthrough_target(port, stream, BURST_TEXT)
        if path == "passthrough"
        else translating_target(port, stream, BURST_TEXT)
    )


class _Load(threading.Thread):
    def __init__(self, target: Target, concurrency: int, duration: float) -> None:
        super().__init__(daemon=True)
        self.args = cli_args(target, concurrency, duration)
        self.timeout = duration + 60

    def run(self) -> None:
        self.result = run_cli(self.args, self.timeout)


def _load_in_background(target: Target, concurrency: int, duration: float) -> _Load:
    load = _Load(target, concurrency, duration)
    load.start()
    return load


def _read(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw format: ``frame;frame;... count``, outermost frame first."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def _print_top(stacks: Counter[tuple[str, ...]], top: int) -> None:
    total = sum(stacks.values()) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks.items():
        own[_short(frames[-1])] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            inclusive[_short(frame)] += count
    print(f"\n-- own time (top {top}) --")
    for name, count in own.most_common(top):
        print(f"{count / total:6.1%}  {name}")
    print(f"\n-- inclusive time (top {top}, process and thread roots left out) --")
    shown = 0
    for name, count in inclusive.most_common():
        if name.startswith(("process ", "Thread ")) or "(" not in name:
            continue
        print(f"{count / total:6.1%}  {name}")
        shown += 1
        if shown >= top:
            break
    print("\n-- own time by package --")
    for name, count in packages.most_common(15):
        print(f"{count / total:6.1%}  {name}")


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` as ``func (pkg/mod.py:12)``."""
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in frame:
            head, _, tail = frame.partition("(")
            return f"{head}({tail.split(marker, 1)[1]}"
    return frame


def _package(frame: str) -> str:
    short = _short(frame)
    if "(" not in short:
        return short
    path = short.rsplit("(", 1)[1].rsplit(":", 1)[0]
    if ".py" not in path:  # Sanic recompiles some methods under their own name ("touchup")
        return "sanic"
    if "/" not in path:
        return f"stdlib {path.removesuffix('.py')}"
    top = path.split("/", 1)[0]
    return f"stdlib {top}" if top in _STDLIB_PACKAGES else top


_STDLIB_PACKAGES = {"asyncio", "json", "http", "email", "concurrent", "logging", "urllib"}


if __name__ == "__main__":
    sys.exit(main())
