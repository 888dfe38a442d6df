"""Counting the claude processes this test process started (read from /proc)."""

from __future__ import annotations

import os
import time
from pathlib import Path


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


def wait_for_no_claude(timeout: float = 10.0) -> list[int]:
    """Waits until no claude child is left; returns the ones still there at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = claude_children()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
