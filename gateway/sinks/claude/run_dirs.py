"""Private directories for Claude Code runs: removed on every path, swept when left behind.

    <tmp>/claude-gateway-<uid>/        private to this user (0700; anything else is refused)
        gateway-<pid>-<hex>.lock       flock-ed by the sink that owns the area below while it runs
        gateway-<pid>-<hex>/           that sink's area
            run-<random>/              one request's run: config dir, transcript, prompt, tmp

A run's directory is removed once the processes of the run are gone (a process still running
would write its files again), and a sink removes its whole area when it closes. An area whose
lock nobody holds belongs to a gateway that is gone (killed, crashed): the next sink to start
removes it. A lock, unlike a PID, cannot be mistaken: two gateways on one machine, even in
different PID namespaces, never remove each other's runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

__all__ = ["RunArea", "RunDirectory", "runs_parent", "sweep_stale_areas"]

log = logging.getLogger("gateway.sinks")

_AREA_NAME = re.compile(r"gateway-\d+-[0-9a-f]{8}")


def runs_parent(base: str | None = None) -> Path:
    """``<tmp>/claude-gateway-<uid>``, created private; refused if someone else could write it."""
    path = Path(base or tempfile.gettempdir()) / f"claude-gateway-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a directory private to this user")
    return path


def sweep_stale_areas(parent: Path) -> list[str]:
    """Removes the areas in ``parent`` whose owner is gone; returns their names."""
    removed = []
    for entry in sorted(parent.iterdir()):
        name = entry.name.removesuffix(".lock")
        if not _AREA_NAME.fullmatch(name):
            continue
        if entry.suffix != ".lock":
            if not (parent / f"{name}.lock").exists():  # a sweep that was cut short
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(name)
            continue
        fd = _lock(entry, blocking=False)
        if fd is None:
            continue  # its owner runs
        try:
            shutil.rmtree(parent / name, ignore_errors=True)
            entry.unlink(missing_ok=True)
        finally:
            os.close(fd)
        removed.append(name)
    return removed


def _lock(path: Path, *, blocking: bool, create: bool = False) -> int | None:
    """A descriptor holding ``path``'s lock, or None if another holds it or it was replaced."""
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        # Between open and flock a sweeper may have taken the lock and unlinked the file.
        if os.fstat(fd).st_ino == os.stat(path).st_ino:
            return fd
    except (BlockingIOError, FileNotFoundError):
        pass
    os.close(fd)
    return None


class RunDirectory:
    """One run's directory; :meth:`remove` stops what :meth:`stop_first` named, then removes it."""

    def __init__(self, path: str, area: RunArea) -> None:
        self.path = path
        self._area = area
        self._stops: list[Callable[[], Awaitable[None]]] = []
        self._removal: asyncio.Future[None] | None = None

    def stop_first(self, stop: Callable[[], Awaitable[None]]) -> None:
        """``stop`` ends a process that writes here; it is awaited before the removal."""
        self._stops.append(stop)

    def hand_over(self) -> RunDirectory:
        """The directory, and what must stop before it goes, as a new owner's (a process kept
        after its request): :meth:`remove` of this one does nothing from now on."""
        successor = RunDirectory(self.path, self._area)
        successor._stops, self._stops = self._stops, []
        self._removal = asyncio.get_running_loop().create_future()
        self._removal.set_result(None)
        return successor

    async def remove(self) -> None:
        """Safe to call more than once. The work runs in a task of its own, so a caller cancelled
        twice (a client gone, then the server stopping) does not cut it short; the area's
        :meth:`RunArea.close` waits for it."""
        if self._removal is None:
            self._removal = self._area._track(self._remove())
        await asyncio.shield(self._removal)

    async def _remove(self) -> None:
        try:
            for stop in self._stops:
                try:
                    await stop()
                except Exception:
                    log.exception("stopping a run in %s failed", self.path)
        finally:
            await asyncio.to_thread(shutil.rmtree, self.path, True)


class RunArea:
    """The directory where one sink keeps its runs, locked for as long as the sink runs."""

    def __init__(self, path: Path, lock_path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_path, self._lock_fd = lock_path, lock_fd
        self._removals: set[asyncio.Task[None]] = set()

    @classmethod
    def open(cls, base: str | None = None) -> RunArea:
        """Sweeps the areas of gateways that are gone, then makes this sink's own.

        Blocking (file system work): call it in a thread."""
        parent = runs_parent(base)
        swept = sweep_stale_areas(parent)
        if swept:
            log.info("removed %d run area(s) left in %s by gateways that are gone", len(swept),
                     parent)  # fmt: skip
        while True:
            name = f"gateway-{os.getpid()}-{secrets.token_hex(4)}"
            with contextlib.suppress(FileExistsError):
                fd = _lock(parent / f"{name}.lock", blocking=True, create=True)
                if fd is not None:
                    break
        (parent / name).mkdir(mode=0o700)
        return cls(parent / name, parent / f"{name}.lock", fd)

    def new_run(self) -> RunDirectory:
        return RunDirectory(tempfile.mkdtemp(prefix="run-", dir=self.path), self)

    def _track(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)
        return task

    async def close(self) -> None:
        """Waits for the runs being removed, then removes the area and lets its lock go."""
        await asyncio.gather(*self._removals, return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, self.path, True)
        if self._lock_fd >= 0:
            self._lock_path.unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = -1
