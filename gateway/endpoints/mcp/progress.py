"""Progress notifications for a tool call whose client sent a ``progressToken``.

The value is the seconds since the call started: it always increases, as the specification
asks, also while the sink produces nothing (an agent reading files, a program running), when a
notification goes out every ``HEARTBEAT`` seconds; clients that reset their request timeout on
progress keep waiting for a long call. While text streams in, a notification goes out at most
every ``TEXT_INTERVAL`` seconds, its message counting the characters so far. The last one has
``total`` equal to its value: done. The total is not known before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ProgressReporter"]

Report = Callable[[float, float | None, str | None], Awaitable[None]]


class ProgressReporter:
    TEXT_INTERVAL = 0.2
    HEARTBEAT = 5.0

    def __init__(self, report: Report) -> None:
        self._report = report
        self._lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._last_value = -1.0
        self._last_sent = self._started
        self._chars = 0
        self._heartbeat: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ProgressReporter:
        await self._send("started")
        self._heartbeat = self._loop.create_task(self._beat())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat

    async def text(self, fragment: str) -> None:
        self._chars += len(fragment)
        if self._loop.time() - self._last_sent >= self.TEXT_INTERVAL:
            await self._send(self._answered())

    async def done(self) -> None:
        await self._send(f"done; {self._answered()}" if self._chars else "done", final=True)

    def _answered(self) -> str:
        return f"{self._chars} characters answered"

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(max(0.0, self._last_sent + self.HEARTBEAT - self._loop.time()))
            if self._loop.time() - self._last_sent >= self.HEARTBEAT:
                await self._send(self._answered() if self._chars else "working")

    async def _send(self, message: str, *, final: bool = False) -> None:
        async with self._lock:
            now = self._loop.time()
            value = max(round(now - self._started, 3), round(self._last_value + 0.001, 3))
            self._last_value, self._last_sent = value, now
            await self._report(value, value if final else None, message)
