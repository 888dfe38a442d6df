"""Counting the claude processes this test process started (read from /proc)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def claude_children() -> list[int]:
    """PIDs of children of this process that run `claude ... stream-json`, zombies included
    (an unreaped child is a leak too)."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # stat: "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if int(ppid) == me and (b"stream-json" in cmdline or cmdline == [b""]):
            found.append(int(entry.name))
    return found


def wait_for_no_claude(timeout: float = 10.0, served: Any = None) -> list[int]:
    """Waits until no claude child is left (but the spares ready and the live processes kept
    in ``served``, a ServedApp); returns the ones still there at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in claude_children() if pid not in spare_pids(served)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def spare_pids(served: Any) -> set[int]:
    """The processes the app's warm pools hold ready (started ahead, not serving anything) and
    its live pools keep (a conversation between two requests)."""
    if served is None:
        return set()
    pids = set()
    for sink in served.app.ctx.runtimes.current.sinks.values():
        pool = getattr(sink, "pool", None)
        if pool is not None:
            pids |= {spare.child.pid for spare in pool.spares()}
        live = getattr(sink, "live", None)
        if live is not None:
            pids |= {process.pid for process in live.processes()}
    return pids
