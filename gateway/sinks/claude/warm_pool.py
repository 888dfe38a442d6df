"""Spare processes started ahead of requests, each handed to exactly one request.

The pool knows nothing of Claude Code: it is given a ``start(kind)`` coroutine that makes one
spare of a kind (spares of different kinds serve different requests) and keeps up to ``size``
of them ready. A request :meth:`take`s one of its kind without waiting (``None`` when none is
ready: the caller then starts cold, which is never slower than waiting for a spare still
starting). Refills run in one background task, one spare at a time, off the request path; each
replaces the spare last taken or missed with one of the same kind, so the pool follows the
traffic. It starts none while paused (:meth:`pause`: the sink's claude has no login).

A spare is dropped instead of handed out when it has died, is older than ``max_idle``, or was
started before :meth:`renew` (a changed login or binary): it could not serve as the request
expects. Every spare is ended by :meth:`close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol

__all__ = ["Spare", "WarmPool"]

log = logging.getLogger("gateway.sinks")

#: After a failed start, the pool waits this long (doubling, up to a minute) before trying again,
#: so that a missing login or a broken binary does not become a spawn loop.
_RETRY_AFTER = 1.0


class Spare(Protocol):
    def alive(self) -> bool: ...

    def resident_bytes(self) -> int: ...

    async def discard(self) -> None:
        """Ends the spare's processes and removes its files."""
        ...


class WarmPool:
    def __init__(
        self,
        name: str,
        start: Callable[[Hashable], Awaitable[Spare]],
        first_kind: Hashable,
        *,
        size: int,
        max_idle: float,
        memory_budget: int,
    ) -> None:
        self.name = name
        self.size = size
        self.max_idle = max_idle
        self.memory_budget = memory_budget
        self._start = start
        self._ready: list[tuple[float, int, Hashable, Spare]] = []  # started, generation, kind
        self._next_kind = first_kind
        self._generation = 0
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._paused = False
        self._retiring: set[asyncio.Task[None]] = set()
        self.served = 0  # requests a spare answered
        self.missed = 0  # requests that found none ready
        self.failures = 0

    def open(self) -> None:
        """Starts filling the pool in the background (again, after :meth:`pause`)."""
        self._paused = False
        if self.size > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._keep_filled())
        self._wanted.set()

    def pause(self, reason: str) -> None:
        """Ends the spares and starts none until :meth:`open`."""
        if self._paused:
            return
        self._paused = True
        if self._ready:
            log.info("sink %s: ending %d spare(s): %s", self.name, len(self._ready), reason)
        self._generation += 1  # a spare starting now is discarded when it is ready
        for *_, spare in self._ready:
            self._retire(spare)
        self._ready.clear()

    def take(self, kind: Hashable) -> Spare | None:
        """A ready spare of ``kind``, now, or None; its replacement starts in the background."""
        if self.size == 0:
            return None
        self._drop_stale()
        self._next_kind = kind
        self._wanted.set()
        for entry in self._ready:
            if entry[2] == kind:
                self._ready.remove(entry)
                self.served += 1
                return entry[3]
        self.missed += 1
        if len(self._ready) >= self.size:  # make room for one of the kind asked for
            self._retire(self._ready.pop(0)[3])
        return None

    def spares(self) -> list[Spare]:
        """The spares ready now."""
        return [spare for *_, spare in self._ready]

    def renew(self, reason: str) -> None:
        """Spares started until now must not serve (the login or the binary changed)."""
        if not self._ready:
            self._generation += 1
            return
        log.info("sink %s: replacing %d spare(s): %s", self.name, len(self._ready), reason)
        self._generation += 1
        for *_, spare in self._ready:
            self._retire(spare)
        self._ready.clear()
        self._wanted.set()

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        spares, self._ready = [spare for *_, spare in self._ready], []
        await asyncio.gather(
            *(spare.discard() for spare in spares), *self._retiring, return_exceptions=True
        )

    def status(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "ready": len(self._ready),
            "served": self.served,
            "missed": self.missed,
            "failed_starts": self.failures,
            "resident_mib": round(self._resident() / 2**20, 1),
        }

    def _usable(self, started: float, generation: int, kind: Hashable, spare: Spare) -> bool:
        return (
            generation == self._generation
            and time.monotonic() - started < self.max_idle
            and spare.alive()
        )

    def _retire(self, spare: Spare) -> None:
        task = asyncio.get_running_loop().create_task(spare.discard())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _resident(self) -> int:
        return sum(spare.resident_bytes() for *_, spare in self._ready)

    async def _keep_filled(self) -> None:
        retry_after = _RETRY_AFTER
        while not self._closed:
            self._drop_stale()
            if self._paused or len(self._ready) >= self.size or self._over_budget():
                self._wanted.clear()
                # Woken by a take, or in time to replace the oldest spare before it expires.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_expiry()):
                        await self._wanted.wait()
                continue
            generation, kind = self._generation, self._next_kind
            try:
                spare = await self._start(kind)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                log.warning("sink %s: a spare claude failed to start: %s", self.name, exc)
                await asyncio.sleep(retry_after)
                retry_after = min(retry_after * 2, 60.0)
                continue
            retry_after = _RETRY_AFTER
            if self._closed or generation != self._generation:
                await spare.discard()
                continue
            self._ready.append((time.monotonic(), generation, kind, spare))

    def _drop_stale(self) -> None:
        keep = [entry for entry in self._ready if self._usable(*entry)]
        for entry in self._ready:
            if entry not in keep:
                self._retire(entry[3])
        self._ready = keep

    def _over_budget(self) -> bool:
        if not self._ready:
            return False
        resident = self._resident()  # read from /proc: once
        return resident + resident / len(self._ready) > self.memory_budget

    def _next_expiry(self) -> float | None:
        if not self._ready:
            return None
        oldest = min(entry[0] for entry in self._ready)
        return max(0.05, oldest + self.max_idle - time.monotonic())
