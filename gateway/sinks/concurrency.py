"""A bound on the requests a sink serves at once, with a bounded, timed waiting line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..errors import Overloaded

__all__ = ["ConcurrencyLimiter"]


class ConcurrencyLimiter:
    """``max_running`` slots; up to ``max_waiting`` requests wait up to ``wait_timeout`` seconds.

    Beyond that a request is refused at once with :class:`Overloaded` (429 / 529 with
    Retry-After), so a burst is answered quickly instead of piling up unbounded.
    """

    def __init__(self, max_running: int, max_waiting: int, wait_timeout: float) -> None:
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.wait_timeout = wait_timeout
        self._slots = asyncio.Semaphore(max_running)
        self.running = 0
        self.waiting = 0

    async def acquire(self, name: str) -> None:
        """Takes a slot, waiting in line if allowed; pair with :meth:`release`."""
        if self._slots.locked():
            if self.waiting >= self.max_waiting:
                raise self._busy(name, f"{self.waiting} are waiting")
            self.waiting += 1
            try:
                async with asyncio.timeout(self.wait_timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise self._busy(name, f"none finished within {self.wait_timeout:g} s") from None
            finally:
                self.waiting -= 1
        else:
            await self._slots.acquire()
        self.running += 1

    def release(self) -> None:
        self.running -= 1
        self._slots.release()

    @asynccontextmanager
    async def slot(self, name: str) -> AsyncIterator[None]:
        await self.acquire(name)
        try:
            yield
        finally:
            self.release()

    def _busy(self, name: str, detail: str) -> Overloaded:
        return Overloaded(
            f"The sink '{name}' is at its limit of {self.max_running} concurrent requests and "
            f"{detail}. Retry shortly.",
            retry_after=max(1.0, self.wait_timeout / 2),
        )

    def status(self) -> dict[str, int]:
        return {
            "running": self.running,
            "waiting": self.waiting,
            "max_running": self.max_running,
            "max_waiting": self.max_waiting,
        }
