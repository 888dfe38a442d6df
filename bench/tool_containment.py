"""What each way of containing a tool.bash command ends, and what it costs:
``python bench/tool_containment.py [--spawns 50]``.

Runs escape patterns through the bash endpoint's own ``_run`` (a 1 s timeout, as a route with
``timeout: 1``), once per containment that works here (containment.py: a pid namespace, the
subreaper keeper) and once with only the process group (the gateway before issue 25). For each:
the answer's status and how long it took, and the processes of the run still alive 0.5 s after
the answer (found by a number only that run uses; then killed by pid). ``kill_parent`` is not
run with the process group alone: the command's parent would be this process. Then the time to run
``true`` through ``_run``, median of ``--spawns``. Run it as root and as a plain user, e.g.
``runuser -u someone -- env PYTHONPATH=.:.venv/lib/python3.11/site-packages
/usr/bin/python3 bench/tool_containment.py``. Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gateway.endpoints.tools import bash, containment
from gateway.errors import GatewayError

_SCENARIOS = {
    "setsid_bg": "sh -c 'setsid sleep N &'",
    "double_fork": "sh -c '(setsid sleep N &) &'",
    "git_alias": "git -c 'alias.z=!setsid sleep N' z",
    "fg_plus_daemon": "sh -c 'setsid sleep N & exec sleep N'",
    "env_clear": "sh -c 'env -i setsid sleep N &'",
    "respawn": "sh -c 'setsid sh -c \"while :; do setsid sleep N & sleep 0.05; done\" &'",
    "kill_parent": "sh -c 'setsid sleep N & kill -9 $PPID; exec sleep N'",
}


def _argv(scenario: str, nonce: str) -> list[str]:
    sh, git = shutil.which("sh") or "/bin/sh", shutil.which("git") or "/usr/bin/git"
    if scenario == "git_alias":
        return [git, "-c", f"alias.z=!setsid sleep {nonce}", "z"]
    script = _SCENARIOS[scenario].split("'", 1)[1].rsplit("'", 1)[0]
    return [sh, "-c", script.replace("N", nonce)]


def _alive(nonce: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if nonce.encode() in cmdline and state != "Z" and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def _kill_all(nonce: str) -> None:
    for _ in range(50):  # a respawner makes new ones until it is gone itself
        alive = _alive(nonce)
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


async def _one(argv: list[str], cwd: str) -> tuple[str, float]:
    env = {"PATH": "/usr/bin:/bin", "HOME": cwd}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(60):
            code, *_ = await bash._run(argv, cwd, env, 1.0, 65536)
        outcome = f"exit {code}"
    except GatewayError as error:
        outcome = str(error.status)
    except TimeoutError:
        outcome = "hung 60 s"
    return outcome, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=50)
    args = parser.parse_args()
    modes = [m for m in (containment._pid_namespace(), containment._subreaper()) if m]
    modes.append(containment.Containment())
    cwd = tempfile.mkdtemp(prefix="containment-")
    print(f"uid {os.geteuid()}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    counter = 0
    for mode in modes:
        containment.chosen = lambda mode=mode: mode  # what _run asks for
        print(f"\n{mode.name}: {mode.guarantee}")
        for scenario in _SCENARIOS:
            if scenario == "kill_parent" and type(mode) is containment.Containment:
                print(f"  {scenario:15} not run: the command's parent is this process")
                continue
            counter += 1
            nonce = f"3{os.getpid() % 1000:03d}.{counter:03d}"
            outcome, took = asyncio.run(_one(_argv(scenario, nonce), cwd))
            time.sleep(0.5)
            left = len(_alive(nonce))
            _kill_all(nonce)
            verdict = "ok" if left == 0 else f"LEAK {left}"
            print(f"  {scenario:15} {outcome:>8} after {took:5.2f} s   {verdict}")
        true = [shutil.which("true") or "/bin/true"]
        times = []
        for _ in range(args.spawns):
            _, took = asyncio.run(_one(true, cwd))
            times.append(took)
        print(f"  `true` through _run: median {statistics.median(times) * 1000:.1f} ms "
              f"(min {min(times) * 1000:.1f}, of {args.spawns})")  # fmt: skip
    shutil.rmtree(cwd, ignore_errors=True)


if __name__ == "__main__":
    main()
