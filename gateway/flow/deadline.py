"""One deadline per request, shared by every stage that waits on its sink."""

from __future__ import annotations

import asyncio

__all__ = ["Deadline"]


class Deadline:
    """When a request's answer must be complete: ``limits.request_timeout`` after the gateway
    started on it, however the time is split between waiting, streaming and relaying."""

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float, at: float) -> None:
        self.seconds = seconds
        self.at = at  # on the event loop's clock

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, asyncio.get_running_loop().time() + seconds)

    def remaining(self) -> float:
        """Seconds left (negative once it has passed)."""
        return self.at - asyncio.get_running_loop().time()

    def scope(self) -> asyncio.Timeout:
        """Raises TimeoutError in the block once the deadline passes."""
        return asyncio.timeout_at(self.at)
