"""The rate-limit headers each SDK reads, from a key's limits and a verdict.

OpenAI: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, resets as durations
(``6m0s``, ``1.5s``). Anthropic: ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}``,
resets as RFC 3339 times.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from .keys import ClientKey
from .verdict import Verdict

__all__ = ["duration", "rate_headers"]


def duration(seconds: float) -> str:
    """A Go-style duration as OpenAI writes its resets: ``250ms``, ``12s``, ``6m0s``, ``1h0m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = int(seconds)
    if whole < 60:
        fraction = round(seconds - whole, 3)
        return f"{whole + fraction:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s"


def _instant(seconds: float) -> str:
    moment = datetime.fromtimestamp(time.time() + seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_headers(key: ClientKey, verdict: Verdict, *, anthropic: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    sets = (
        ("requests", key.requests_per_minute, verdict.requests, verdict.requests_reset),
        ("tokens", key.tokens_per_minute, verdict.tokens, verdict.tokens_reset),
    )
    for kind, limit, used, reset in sets:
        if not limit:
            continue
        remaining = str(max(0, limit - used))
        if anthropic:
            headers[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{kind}-remaining"] = remaining
            headers[f"anthropic-ratelimit-{kind}-reset"] = _instant(reset)
        else:
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = remaining
            headers[f"x-ratelimit-reset-{kind}"] = duration(reset)
    return headers
