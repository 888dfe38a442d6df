"""Trying a plan's targets until one answers: retries with backoff, then the next target.

Only failures before the first byte reach the client move a request on (docs/configuration.md,
"Targets"): once an answer has started, a failure is the dialect's in-band error, never a
second answer spliced onto the first. A failure is classified by kind (connect, timeout,
rate_limited, overloaded, server_error, limited); the plan's ``retry.on`` kinds are retried on
the same target, with exponential backoff and jitter, waiting at least the upstream's
``retry-after`` (up to ``max_retry_after_seconds``; longer moves on); its ``fallback_on`` kinds
move on to the next target; any other failure (a request the client got wrong) ends it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from ..config.routing import Plan, Target
from ..errors import (
    GatewayError,
    Overloaded,
    RateLimited,
    SinkUnavailable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
    UsageLimited,
)
from ..exchange import Attempt, Exchange
from ..sinks.base import Sink
from .answers import Answer, RelayedAnswer
from .deadline import Deadline
from .targets import TargetHealth

__all__ = ["failure_kind", "try_targets"]

OpenTarget = Callable[[Target, Sink], Awaitable[Answer]]


def failure_kind(error: GatewayError) -> str | None:
    """The kind of a failure routing may retry or move on for; None: the client's own."""
    if isinstance(error, UsageLimited):
        return "limited"
    if isinstance(error, UpstreamUnreachable):
        return "connect"
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    if isinstance(error, Overloaded):
        return "overloaded"
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, UpstreamError | SinkUnavailable):
        return "server_error"
    return None


async def try_targets(
    plan: Plan,
    sinks: Mapping[str, Sink],
    health: TargetHealth,
    exchange: Exchange,
    deadline: Deadline,
    open_target: OpenTarget,
) -> Answer:
    """The first answer a target of ``plan`` opens; the last failure when none does (a
    relayed error answer is returned as the upstream sent it, bytes untouched)."""
    failure: _Failure | None = None
    try:
        for target in health.order(plan, sinks):
            if failure is not None and deadline.remaining() <= 0:
                break  # the request's own time is up: no target can answer in it
            answer, failure = await _try_target(
                plan, target, sinks[target.sink], health, exchange, deadline, open_target, failure
            )
            if answer is not None:
                return answer
            if failure is not None and failure.kind not in plan.fallback_on:
                break
    except BaseException:
        if failure is not None:
            failure.close()
        raise
    if failure is None:  # every target was being probed by other requests
        raise SinkUnavailable(f"No target of '{plan.requested}' can take a request now; retry.")
    _name_target(exchange, failure.target)
    if isinstance(failure.error, RelayedAnswer):
        return failure.error
    raise failure.error


@dataclass(slots=True)
class _Failure:
    """The last failure of a request's tries: what failed, its kind, and the target."""

    error: GatewayError | RelayedAnswer
    kind: str
    target: Target

    def close(self) -> None:
        if isinstance(self.error, RelayedAnswer):
            self.error.answer.close()


async def _try_target(
    plan: Plan,
    target: Target,
    sink: Sink,
    health: TargetHealth,
    exchange: Exchange,
    deadline: Deadline,
    open_target: OpenTarget,
    failure: _Failure | None,
) -> tuple[Answer | None, _Failure | None]:
    """(the answer, None), or (None, the last failure: this target's, else ``failure``)."""
    routed = len(plan.targets) > 1
    for tried in range(plan.retry.attempts):
        if not health.begin(target, routed=routed):
            break  # cooling down, or another request is probing it
        attempt = Attempt(target.sink, target.model, time.perf_counter())
        exchange.attempts.append(attempt)
        _name_target(exchange, target)  # also what an error answer and the ledger name
        try:
            answer = await open_target(target, sink)
        except GatewayError as error:
            health.end(target, routed=routed)
            attempt.ended, attempt.error = time.perf_counter(), error.kind
            kind = failure_kind(error)
            if kind is None:  # the client's own mistake: no other target would do better
                health.released(target, routed=routed)
                raise
            latest: GatewayError | RelayedAnswer = error
            retry_after = _retry_after(error.headers)
        except BaseException:
            health.end(target, routed=routed)
            health.released(target, routed=routed)
            raise
        else:
            attempt.ended = time.perf_counter()
            kind, retry_after = _relayed_failure(answer)
            if kind is None:
                health.succeeded(target, routed=routed)
                if failure is not None:
                    failure.close()
                answer.on_sent = lambda: health.end(target, routed=routed)
                return answer, None
            health.end(target, routed=routed)
            latest = answer
        attempt.error = kind
        if failure is not None:
            failure.close()
        failure = _Failure(latest, kind, target)
        cooled = health.failed(target, kind, routed=routed)
        if cooled or kind not in plan.retry.on or tried + 1 >= plan.retry.attempts:
            break
        delay = _backoff(plan, tried, retry_after)
        if delay is None or delay >= deadline.remaining():
            break
        await asyncio.sleep(delay)
    return None, failure


def _name_target(exchange: Exchange, target: Target) -> None:
    """Names the target tried last on the exchange and in the headers of its answer, an error
    answer included."""
    exchange.target, exchange.target_model, exchange.sink = target.key, target.model, target.sink
    exchange.response_headers["x-gateway-target"] = target.key
    exchange.response_headers["x-gateway-attempts"] = str(len(exchange.attempts))


def _relayed_failure(answer: Answer) -> tuple[str | None, float | None]:
    """The failure kind of a relayed upstream answer (by its status), and its retry-after."""
    if not isinstance(answer, RelayedAnswer):
        return None, None
    status = answer.answer.status
    if status < 429 or status in (501, 505):
        return None, None
    headers = {k.lower(): v for k, v in answer.answer.headers.items()}
    if status == 429:
        rejected = headers.get("anthropic-ratelimit-unified-status") == "rejected"
        kind = "limited" if rejected else "rate_limited"
    elif status == 529:
        kind = "overloaded"
    elif status >= 500:
        kind = "server_error"
    else:
        return None, None
    return kind, _retry_after(headers)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the upstream asked to wait (``retry-after-ms``, ``retry-after`` in seconds or
    as a date), or None."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _backoff(plan: Plan, tried: int, retry_after: float | None) -> float | None:
    """Seconds before the next try of a target, or None to move on instead (the upstream asks
    for a longer wait than the plan allows)."""
    policy = plan.retry
    if retry_after is not None and retry_after > policy.max_retry_after_seconds:
        return None
    ceiling = min(policy.max_backoff_seconds, policy.backoff_seconds * 2**tried)
    delay = ceiling * (0.5 + random.random() / 2)  # jitter: clients retrying together spread
    return max(delay, retry_after or 0.0)
