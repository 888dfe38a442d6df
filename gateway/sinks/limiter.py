"""A bound on the backend processes a sink runs at once, with a bounded, timed waiting line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..errors import Overloaded

__all__ = ["ProcessLimiter"]


class ProcessLimiter:
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

    @asynccontextmanager
    async def slot(self, name: str) -> AsyncIterator[None]:
        if self._slots.locked():
            if self.waiting >= self.max_waiting:
                raise Overloaded(
                    f"The sink '{name}' is busy: {self.running} requests are running and "
                    f"{self.waiting} are waiting. Retry shortly.",
                    retry_after=self.wait_timeout / 2 or 1,
                )
            self.waiting += 1
            try:
                async with asyncio.timeout(self.wait_timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise Overloaded(
                    f"The sink '{name}' stayed busy for {self.wait_timeout:g} s. Retry shortly.",
                    retry_after=self.wait_timeout / 2 or 1,
                ) from None
            finally:
                self.waiting -= 1
        else:
            await self._slots.acquire()
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()

    def status(self) -> dict[str, int]:
        return {"running": self.running, "waiting": self.waiting, "max_running": self.max_running,
                "max_waiting": self.max_waiting}  # fmt: skip
