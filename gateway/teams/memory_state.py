"""Limit counters in the process: nothing to install, one process's view only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .keys import ClientKey
from .verdict import Verdict

__all__ = ["MemoryState"]


class _Window:
    """A count that starts when first added to and ends ``length`` seconds later."""

    __slots__ = ("count", "ends")

    def __init__(self) -> None:
        self.count = 0
        self.ends = 0.0

    def current(self, now: float) -> int:
        if now >= self.ends:
            self.count = 0
        return self.count

    def add(self, n: int, now: float, length: float) -> int:
        if now >= self.ends:
            self.count, self.ends = 0, now + length
        self.count += n
        return self.count

    def reset_in(self, now: float, length: float) -> float:
        return self.ends - now if now < self.ends else length


class MemoryState:
    """Windows start at a key's first request (or first tokens) and last ``window`` seconds, so
    a client cannot double its rate across a boundary shared by every key."""

    kind = "memory"

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._requests: dict[str, _Window] = {}
        self._tokens: dict[str, _Window] = {}
        self._in_flight: dict[str, int] = {}
        #: Budget counters by name: [micro-dollars, tokens, unix time it may be dropped].
        self._spent: dict[str, list[float]] = {}

    async def admit(self, key: ClientKey, ticket: str) -> Verdict:
        now, name = self._clock(), key.name
        requests = self._requests.setdefault(name, _Window())
        tokens = self._tokens.setdefault(name, _Window())
        counted, used = requests.current(now), tokens.current(now)
        in_flight = self._in_flight.get(name, 0)
        refused = None
        if key.requests_per_minute and counted >= key.requests_per_minute:
            refused = "requests"
        elif key.tokens_per_minute and used >= key.tokens_per_minute:
            refused = "tokens"
        elif key.concurrency and in_flight >= key.concurrency:
            refused = "concurrency"
        if refused is None:
            counted = requests.add(1, now, self.window)
            if key.concurrency:
                in_flight = self._in_flight[name] = in_flight + 1
        return Verdict(
            refused,
            counted,
            requests.reset_in(now, self.window),
            used,
            tokens.reset_in(now, self.window),
            in_flight,
            holds_slot=refused is None and bool(key.concurrency),
        )

    async def finish(self, key: ClientKey, ticket: str, held: bool, tokens: int) -> None:
        if held:
            self._in_flight[key.name] = max(0, self._in_flight.get(key.name, 0) - 1)
        if tokens:
            self._tokens.setdefault(key.name, _Window()).add(tokens, self._clock(), self.window)

    async def budget_spent(self, counters: list[str]) -> list[tuple[int, int]]:
        """What each budget counter holds: (micro-dollars, tokens)."""
        found = (self._spent.get(name) for name in counters)
        return [(int(c[0]), int(c[1])) if c else (0, 0) for c in found]

    async def budget_add(
        self, counters: list[str], micro_usd: int, tokens: int, expires: list[float]
    ) -> list[tuple[int, int]]:
        """Adds an answer to each counter (kept until its ``expires``); their new totals."""
        now = time.time()
        for name in [n for n, c in self._spent.items() if c[2] < now]:
            del self._spent[name]
        totals = []
        for name, until in zip(counters, expires, strict=True):
            counter = self._spent.setdefault(name, [0, 0, until])
            counter[0] += micro_usd
            counter[1] += tokens
            totals.append((int(counter[0]), int(counter[1])))
        return totals

    async def status(self) -> dict[str, Any]:
        return {"backend": self.kind, "reachable": True}

    async def close(self) -> None:
        return None
