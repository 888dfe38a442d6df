"""Rows are appended on the request path and written in batches by a task of their own.

``add()`` is all a request pays: a list append. The writer task wakes every
``flush_interval`` seconds (or as soon as a batch is full), hands the pending rows to the store
(which works off the event loop) and, at ``close()``, writes whatever is left. A store that
fails keeps its rows pending for the next try, up to ``MAX_PENDING``; beyond that the oldest
are dropped and counted. What the store still refuses at ``close()`` goes to a spill file
(spill.py), which ``recover()`` takes back at the next start: a row accepted is not lost to a
database that is locked, full or down when the gateway stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from . import spill
from .settings import LedgerSettings
from .store import Store

__all__ = ["LedgerWriter"]

log = logging.getLogger("gateway.usage")

BATCH = 500
MAX_PENDING = 100_000
_RETRY_AFTER = 5.0
_PRUNE_EVERY = 3600.0


class LedgerWriter:
    def __init__(self, store: Store, settings: LedgerSettings) -> None:
        self.store = store
        self.settings = settings
        self.written = 0
        self.dropped = 0
        #: Rows kept in a spill file at shutdown, for the next start to write.
        self.spilled = 0
        self.last_error: str | None = None
        self._pending: list[tuple[Any, ...]] = []
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._pruned_at = 0.0
        #: Rows ever accepted (added or recovered); written + dropped reach it when caught up.
        self._accepted = 0
        self._progress = asyncio.Event()
        #: Spill files claimed at start, deleted once their rows are written.
        self._claimed: list[Path] = []

    @property
    def pending(self) -> int:
        """Rows accepted and not yet written, those of a write under way included."""
        return self._accepted - self.written - self.dropped - self.spilled

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._write_often())

    async def recover(self) -> int:
        """Takes back the rows earlier shutdowns spilled; the writer task writes them first."""
        if self.settings.spill is None:
            return 0
        claimed, rows = await asyncio.to_thread(spill.claim, self.settings.spill)
        if rows:
            self._pending[:0] = rows
            self._accepted += len(rows)
            self._trim()
            self._full.set()
            log.info("usage ledger: %d rows spilled at an earlier shutdown are written now",
                     len(rows))  # fmt: skip
        self._claimed += claimed
        return len(rows)

    def add(self, row: tuple[Any, ...]) -> None:
        pending = self._pending
        pending.append(row)
        self._accepted += 1
        if len(pending) >= BATCH:
            self._full.set()

    async def caught_up(self, timeout: float) -> bool:
        """Has the writer task write every row accepted so far, waiting up to ``timeout``
        seconds; False if it has not (the store is slow, locked or down). Nothing is cancelled:
        a write that takes longer goes on by itself."""
        goal = self._accepted
        if self.written + self.dropped >= goal:
            return True
        self._full.set()
        try:
            async with asyncio.timeout(timeout):
                while self.written + self.dropped < goal:
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            return False
        return True

    async def flush(self) -> None:
        """Writes every pending row now; raises what the store raised (the rows stay pending)."""
        async with self._lock:
            while self._pending:
                rows, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                try:
                    await self.store.insert(rows)
                except BaseException:
                    self._pending[:0] = rows
                    self._trim()
                    raise
                self.written += len(rows)
                self._progress.set()
            if self._claimed:
                spill.release(self._claimed)
                self._claimed = []

    async def close(self) -> None:
        """Stops the writer task, writes what is left and closes the store."""
        # Not cancelled: a write cancelled while the store's thread performs it could not be
        # told from one that failed, and its rows would be written twice.
        self._closing = True
        self._full.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as exc:
            await self._spill(exc)
        await self.store.close()

    async def _spill(self, cause: Exception) -> None:
        rows, where = self._pending, self.settings.spill
        try:
            if where is None:
                raise OSError("no spill file is configured")
            path = await asyncio.to_thread(spill.spill, where, rows)
        except OSError as exc:
            log.error("usage ledger %s: %d rows could not be written at shutdown (%s), nor "
                      "kept in a spill file: %s", self.store.location, len(rows), cause,
                      exc)  # fmt: skip
            return
        # The rows of the files claimed at start that were still pending are in the new one.
        spill.release(self._claimed)
        self._claimed, self._pending = [], []
        self.spilled += len(rows)
        log.warning("usage ledger %s: %d rows could not be written at shutdown (%s); kept in %s "
                    "and written at the next start", self.store.location, len(rows), cause,
                    path)  # fmt: skip

    def status(self) -> dict[str, Any]:
        return {
            "backend": self.store.backend,
            "location": self.store.location,
            "pending": self.pending,
            "written": self.written,
            "dropped": self.dropped,
            "error": self.last_error,
        }

    async def _write_often(self) -> None:
        delay = self.settings.flush_interval
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._full.wait()
            self._full.clear()
            if self._closing:
                return
            try:
                await self.flush()
                await self._prune()
                self.last_error, delay = None, self.settings.flush_interval
            except Exception as exc:  # a database that is down must not stop the gateway
                if self.last_error is None:
                    log.warning("usage ledger %s: %s (will retry)", self.store.location, exc)
                self.last_error, delay = f"{type(exc).__name__}: {exc}", _RETRY_AFTER

    async def _prune(self) -> None:
        days = self.settings.retention_days
        now = time.time()
        if not days or now - self._pruned_at < _PRUNE_EVERY:
            return
        self._pruned_at = now
        deleted = await self.store.delete_before(now - days * 86400)
        if deleted:
            log.info("usage ledger: %d rows older than %g days deleted", deleted, days)

    def _trim(self) -> None:
        excess = len(self._pending) - MAX_PENDING
        if excess > 0:
            del self._pending[:excess]
            self.dropped += excess
