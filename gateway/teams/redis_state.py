"""Limit counters in Redis, shared by every worker and host: each decision is one Lua script,
so two gateways can never both take the last request of a window (no read-then-write).

Time is Redis's own (``TIME``), so hosts with skewed clocks share one window. A request in
flight holds a lease in a sorted set that ends by itself after the request timeout, so a
crashed worker cannot hold a concurrency slot for ever.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..redaction import shown_url
from .keys import ClientKey
from .verdict import Verdict

__all__ = ["RedisState", "StateUnavailable"]

log = logging.getLogger("gateway.state")

# KEYS: requests count, tokens count, leases of requests in flight.
# ARGV: requests/window, tokens/window, concurrency (0: none), window ms, lease ms, ticket.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, tpm, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local window, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
local function left(key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then return window end
  return ttl
end
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
local in_flight = 0
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  in_flight = redis.call('ZCARD', KEYS[3])
end
local refused = ''
if rpm > 0 and requests >= rpm then refused = 'requests'
elseif tpm > 0 and tokens >= tpm then refused = 'tokens'
elseif conc > 0 and in_flight >= conc then refused = 'concurrency' end
if refused == '' then
  requests = redis.call('INCR', KEYS[1])
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], window) end
  if conc > 0 then
    redis.call('ZADD', KEYS[3], now + lease, ARGV[6])
    redis.call('PEXPIRE', KEYS[3], lease)
    in_flight = in_flight + 1
  end
end
return {refused, requests, left(KEYS[1]), tokens, left(KEYS[2]), in_flight}
"""

# KEYS: tokens count, leases, usage totals. ARGV: tokens, window ms, ticket, held (0/1).
_FINISH = """
if ARGV[4] == '1' then redis.call('ZREM', KEYS[2], ARGV[3]) end
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('INCRBY', KEYS[1], n)
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  redis.call('HINCRBY', KEYS[3], 'tokens', n)
end
redis.call('HINCRBY', KEYS[3], 'requests', 1)
return 1
"""


# KEYS: budget counters (hashes of usd micro-dollars and tokens).
_SPENT = """
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'usd', 'tokens')
  out[i] = {tonumber(v[1] or '0'), tonumber(v[2] or '0')}
end
return out
"""

# KEYS: budget counters. ARGV: micro-dollars, tokens, then each counter's expiry (unix ms).
_SPEND = """
local out = {}
for i, key in ipairs(KEYS) do
  local usd = redis.call('HINCRBY', key, 'usd', ARGV[1])
  local tokens = redis.call('HINCRBY', key, 'tokens', ARGV[2])
  redis.call('PEXPIREAT', key, ARGV[2 + i])
  out[i] = {usd, tokens}
end
return out
"""


class StateUnavailable(Exception):
    """Redis could not be asked; the limiter applies ``state.on_unavailable``."""


class RedisState:
    kind = "redis"
    #: After a failure, Redis is not asked again for this long: a dead Redis costs each
    #: request nothing instead of a connect attempt.
    RETRY_AFTER = 0.5

    def __init__(self, url: str, window: float, lease: float, prefix: str = "gateway:") -> None:
        self.url, self.shown_url = url, shown_url(url)
        self.window_ms = max(1, round(window * 1000))
        self.lease_ms = max(1, round(lease * 1000))
        self.prefix = prefix
        self._client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._admit = self._client.register_script(_ADMIT)
        self._finish = self._client.register_script(_FINISH)
        self._spent = self._client.register_script(_SPENT)
        self._spend = self._client.register_script(_SPEND)
        self.reachable = True
        self.since = time.time()
        self.problem: str | None = None
        self._quiet_until = 0.0

    def _keys(self, name: str, *kinds: str) -> list[str]:
        # One hash tag per client key: its counters share a slot on a Redis Cluster.
        return [f"{self.prefix}{{{name}}}:{kind}" for kind in kinds]

    async def admit(self, key: ClientKey, ticket: str) -> Verdict:
        args = [
            key.requests_per_minute or 0,
            key.tokens_per_minute or 0,
            key.concurrency or 0,
            self.window_ms,
            self.lease_ms,
            ticket,
        ]
        result = await self._call(
            self._admit, self._keys(key.name, "requests", "tokens", "in_flight"), args
        )
        refused, requests, requests_ms, tokens, tokens_ms, in_flight = result
        refused = refused.decode() if isinstance(refused, bytes) else refused
        return Verdict(
            refused or None,
            int(requests),
            int(requests_ms) / 1000,
            int(tokens),
            int(tokens_ms) / 1000,
            int(in_flight),
            holds_slot=not refused and bool(key.concurrency),
        )

    async def finish(self, key: ClientKey, ticket: str, held: bool, tokens: int) -> None:
        keys = self._keys(key.name, "tokens", "in_flight", "usage")
        await self._call(self._finish, keys, [tokens, self.window_ms, ticket, int(held)])

    def _budget_keys(self, counters: list[str]) -> list[str]:
        # One hash tag for every budget counter: a key's and its team's are counted by one
        # script, which a Redis Cluster runs only on keys of one slot.
        return [f"{self.prefix}{{budgets}}:{name}" for name in counters]

    async def budget_spent(self, counters: list[str]) -> list[tuple[int, int]]:
        found = await self._call(self._spent, self._budget_keys(counters), [])
        return [(int(usd), int(tokens)) for usd, tokens in found]

    async def budget_add(
        self, counters: list[str], micro_usd: int, tokens: int, expires: list[float]
    ) -> list[tuple[int, int]]:
        args = [micro_usd, tokens, *(round(t * 1000) for t in expires)]
        found = await self._call(self._spend, self._budget_keys(counters), args)
        return [(int(usd), int(tokens)) for usd, tokens in found]

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        if not self.reachable and time.monotonic() < self._quiet_until:
            raise StateUnavailable(self.problem)
        try:
            result = await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            self._down(exc)
            raise StateUnavailable(self.problem) from None
        if not self.reachable:
            self._up()
        return result

    def _up(self) -> None:
        self.reachable, self.since, self.problem = True, time.time(), None
        log.warning("Redis at %s is reachable again: limits are shared again", self.shown_url)

    def _down(self, exc: BaseException) -> None:
        self._quiet_until = time.monotonic() + self.RETRY_AFTER
        if self.reachable:
            self.reachable, self.since = False, time.time()
            self.problem = f"{type(exc).__name__}: {exc}"
            log.error("Redis at %s is unreachable (%s)", self.shown_url, self.problem)

    async def status(self) -> dict[str, Any]:
        """Whether Redis answers a PING now: a worker that had no request since Redis went
        away (or came back) must not report what it saw last."""
        if self.reachable or time.monotonic() >= self._quiet_until:
            try:
                await self._client.ping()
            except (RedisError, OSError) as exc:
                self._down(exc)
            else:
                if not self.reachable:
                    self._up()
        return {
            "backend": self.kind,
            "reachable": self.reachable,
            "since": round(self.since, 3),
            "problem": self.problem,
        }

    async def close(self) -> None:
        await self._client.aclose()
