"""Asking the binary its version: a binary that never answers is killed with its children."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from gateway.sinks.claude.binary import find_claude

HANGING = """#!/bin/sh
# Answers nothing to --version; leaves a child of its own, in its process group.
sleep 3600 &
echo "$$ $!" > "$0.pids"
wait
"""


def _alive(pid: int) -> bool:
    """Running, or a zombie this process never reaped (a leak too)."""
    try:
        state, ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
    except FileNotFoundError:
        return False
    return state != "Z" or int(ppid) == os.getpid()


def test_a_version_check_that_hangs_is_killed_and_reaped(tmp_path):
    binary = tmp_path / "claude"
    binary.write_text(HANGING)
    binary.chmod(0o755)
    found = asyncio.run(find_claude(str(binary), timeout=2))
    assert not found.usable
    assert found.error == f"`{binary} --version` did not answer within 2 s"
    shell, sleeper = map(int, Path(f"{binary}.pids").read_text().split())
    deadline = time.monotonic() + 10
    while (_alive(shell) or _alive(sleeper)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(shell), "the binary was left running (or unreaped)"
    assert not _alive(sleeper), "a child of the binary was left running"
