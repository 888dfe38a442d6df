"""One deadline per request, shared by every stage that waits on its sink."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["Deadline"]


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a request's answer must be complete: ``limits.request_timeout`` after the gateway
    started on it, however the time is split between waiting, streaming and relaying."""

    seconds: float
    at: float  # on the event loop's clock

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, asyncio.get_running_loop().time() + seconds)

    def scope(self) -> asyncio.Timeout:
        """Raises TimeoutError in the block once the deadline passes."""
        return asyncio.timeout_at(self.at)
