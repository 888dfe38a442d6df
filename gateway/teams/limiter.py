"""Admitting a request of a named key under its limits, and counting it when it ends.

The state (in the process, or Redis) decides; this module turns its verdict into headers, a
429 in the client's dialect, or, when Redis cannot be reached, the configured policy.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import LimitsUnavailable, RateLimited
from ..exchange import Exchange
from .keys import ClientKey, KeyRing
from .memory_state import MemoryState
from .options import StateOptions
from .rate_headers import rate_headers
from .redis_state import RedisState, StateUnavailable

__all__ = ["Admission", "Limiter"]

log = logging.getLogger("gateway.limits")


@dataclass(slots=True)
class Admission:
    key: ClientKey
    ticket: str
    holds_slot: bool
    #: The rate-limit headers of the client's dialect, for every answer to this request.
    headers: dict[str, str] = field(default_factory=dict)
    #: Where it was counted: its end is counted there too, even if a reload changed ``state``.
    state: Any = None


class Limiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.options = StateOptions()
        self.state: Any = MemoryState(self.options.window_seconds, clock)
        self._lease = 660.0

    async def configure(self, options: StateOptions, request_timeout: float) -> None:
        """Takes a configuration's ``state`` section; counters survive a reload that keeps it."""
        lease = request_timeout + 60  # a slot of a crashed worker frees itself after this
        if options == self.options and lease == self._lease:
            return
        previous = self.state
        if options.url:
            self.state = RedisState(options.url, options.window_seconds, lease, options.prefix)
        else:
            self.state = MemoryState(options.window_seconds, self._clock)
        self.options, self._lease = options, lease
        await previous.close()

    async def admit(self, keys: KeyRing, exchange: Exchange, anthropic: bool) -> Admission | None:
        """Counts the request against its key, or raises RateLimited (429) with headers."""
        key = keys.get(exchange.key_name)
        if key is None or not key.limited:
            return None
        try:
            verdict = await self.state.admit(key, exchange.id)
        except StateUnavailable as exc:
            if self.options.on_unavailable == "closed":
                raise LimitsUnavailable(
                    "The gateway cannot reach the store of its limits (Redis) and is set to "
                    f"refuse requests meanwhile (state.on_unavailable: closed): {exc}",
                    headers={"retry-after": "1"},
                ) from None
            return Admission(key, exchange.id, holds_slot=False, state=self.state)
        headers = rate_headers(key, verdict, anthropic=anthropic)
        if verdict.refused is not None:
            raise _refusal(key, verdict.refused, verdict, headers)
        return Admission(key, exchange.id, verdict.holds_slot, headers, self.state)

    async def finish(self, admission: Admission, exchange: Exchange) -> None:
        """Gives back the concurrency slot and counts the answer's tokens."""
        usage = exchange.usage
        tokens = usage.prompt_tokens + usage.output_tokens if usage is not None else 0
        state = admission.state or self.state
        try:
            await state.finish(admission.key, admission.ticket, admission.holds_slot, tokens)
        except StateUnavailable:
            # The slot's lease ends by itself; these tokens go uncounted.
            log.debug("request %s: its end could not be counted", exchange.id)

    async def status(self) -> Mapping[str, Any]:
        return {
            **(await self.state.status()),
            "on_unavailable": self.options.on_unavailable,
            "window_seconds": self.options.window_seconds,
        }

    async def close(self) -> None:
        await self.state.close()


_WHAT = {
    "requests": "requests per minute",
    "tokens": "tokens per minute",
    "concurrency": "requests at once",
}


def _refusal(key: ClientKey, reason: str, verdict: Any, headers: dict[str, str]) -> RateLimited:
    if reason == "concurrency":
        limit, wait = key.concurrency, 1.0
    elif reason == "requests":
        limit, wait = key.requests_per_minute, verdict.requests_reset
    else:
        limit, wait = key.tokens_per_minute, verdict.tokens_reset
    seconds = max(1, math.ceil(wait))
    message = (
        f"The key '{key.name}' is over its limit of {limit} {_WHAT[reason]}; "
        f"try again in {seconds} s."
    )
    headers = {**headers, "retry-after": str(seconds)}
    return RateLimited(message, code="rate_limit_exceeded", headers=headers)
