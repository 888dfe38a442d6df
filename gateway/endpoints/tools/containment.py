"""Ending everything a tool.bash command started, whatever it did to get away.

A process group is not enough: a child that calls ``setsid`` (``git -c alias.z='!setsid sleep
12' z``) or double-forks leaves it and outlives the kill, and holding the command's stdout it
also kept ``process.wait()`` from returning (asyncio waits for the pipes). How a command is
contained is decided once per process, by trying, in this order:

1. **pid namespace**: the command runs as ``unshare --pid --fork --kill-child -- PROGRAM``
   (with ``--user --map-current-user`` when not root), pid 1 of a namespace of its own. When it
   ends, or its process group is killed, the kernel kills everything in the namespace; nothing
   started inside can leave it. Needs util-linux's unshare and, as a plain user, unprivileged
   user namespaces (often off in containers: Docker's default seccomp profile,
   ``kernel.unprivileged_userns_clone=0``, AppArmor's userns restriction).
2. **subreaper**: the command runs under reaper.py, a small keeper that adopts every orphan of
   the command and kills them all when it ends or when asked (SIGTERM). Linux only. A
   descendant that SIGKILLs the keeper first escapes.
3. **process group** (not Linux): the group is killed; what left it lives on. A warning says so.

Measured on this project's machine (docs/tools.md): 1 and 2 end all of 8 escape patterns (setsid,
double fork, git alias, env -i, a respawning loop...) as root and as a plain user; 3 ends none.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["Containment", "chosen"]

log = logging.getLogger("gateway.tools")

_SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
_REAPER = str(Path(__file__).with_name("reaper.py"))
# How long an ended command may take to be gone before its whole group is killed; then how
# long the answer waits for its pipes (a process that escaped may hold them open).
_GRACE = 2.0
_SETTLE = 5.0


class Containment:
    """How commands are started and ended: ``command`` wraps a program's argv, ``end`` starts
    ending it and everything it started, ``settle`` waits until that is done (bounded)."""

    name = "process group"
    #: What a log line and the docs say it guarantees.
    guarantee = "descendants that leave the command's process group (setsid) outlive it"

    def command(self, argv: list[str]) -> list[str]:
        return argv

    def end(self, process: asyncio.subprocess.Process) -> None:
        _kill_group(process)

    async def settle(self, process: asyncio.subprocess.Process) -> None:
        """Waits for an ended command; kills its group if it takes longer than ``_GRACE``, and
        stops waiting after ``_SETTLE`` (its pipes may be held by a process that escaped)."""
        waiting = asyncio.ensure_future(process.wait())
        done, _ = await asyncio.wait({waiting}, timeout=_GRACE)
        if not done:
            _kill_group(process)
            done, _ = await asyncio.wait({waiting}, timeout=_SETTLE)
        if not done:
            log.warning("a tool.bash command (pid %d) ended, but something it started still "
                        "holds its output open: %s", process.pid, self.guarantee)  # fmt: skip


class PidNamespace(Containment):
    name = "pid namespace"
    guarantee = "everything a command starts is ended with it (the kernel ends the namespace)"

    def __init__(self, prefix: list[str]) -> None:
        self.prefix = prefix

    def command(self, argv: list[str]) -> list[str]:
        return [*self.prefix, "--", *argv]


class Subreaper(Containment):
    name = "subreaper"
    guarantee = ("everything a command starts is ended with it, unless a descendant kills its "
                 "keeper (reaper.py) with SIGKILL first")  # fmt: skip

    def command(self, argv: list[str]) -> list[str]:
        return [sys.executable, "-I", "-S", _REAPER, *argv]

    def end(self, process: asyncio.subprocess.Process) -> None:
        # The keeper ends the rest itself; a SIGKILL would leave it no time to.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # Only while the leader is unreaped, so its pid, the group's id, cannot have been reused.
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


@functools.cache
def chosen() -> Containment:
    """The first way that works here, found once per process (a few ms: it starts ``true``)."""
    found = _pid_namespace() or _subreaper() or Containment()
    level = logging.INFO if isinstance(found, PidNamespace) else logging.WARNING
    log.log(level, "tool.bash: commands run in a %s: %s", found.name, found.guarantee)
    return found


def _pid_namespace() -> PidNamespace | None:
    unshare = shutil.which("unshare", path=_SYSTEM_PATH)
    if unshare is None or not sys.platform.startswith("linux"):
        return None
    prefix = [unshare, "--pid", "--fork", "--kill-child"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-current-user"]
    found = PidNamespace(prefix)
    return found if _runs(found.command(_true())) else None


def _subreaper() -> Subreaper | None:
    if not sys.platform.startswith("linux"):
        return None
    found = Subreaper()
    return found if _runs(found.command(_true())) else None


def _true() -> list[str]:
    path = shutil.which("true", path=_SYSTEM_PATH)
    return [path] if path else [sys.executable, "-I", "-S", "-c", ""]


def _runs(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    if done.returncode != 0:
        log.debug("%s: exit %d: %s", argv[0], done.returncode, done.stderr[-300:])
    return done.returncode == 0
