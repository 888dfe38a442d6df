"""Reading the ledger: totals by day, model, key or route (``gateway usage``), and the series
and percentiles of a recent window (``/dashboard``). The same SQL runs on both stores."""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from .record import TABLE
from .store import Store

__all__ = [
    "DEFAULT_TABLES", "DIMENSIONS", "FAILED", "SERVED", "Scope", "Totals", "percentile", "recent",
    "subscriptions", "summary", "window",
]  # fmt: skip

#: What ``gateway usage`` groups by. A model is the one that served (the name the sink got).
DIMENSIONS = {
    "day": "day",
    "model": "COALESCE(response_model, target_model, model, '')",
    "key": "COALESCE(key_name, '')",
    "route": "COALESCE(route, path, '')",
    "target": "COALESCE(target, '')",
}
#: The tables ``gateway usage`` prints unless told which.
DEFAULT_TABLES = ("day", "model", "key", "route")
#: A refused request, or a stream that failed after it began (its status was already 200).
FAILED = "(status >= 400 OR error_kind IS NOT NULL)"


@dataclass(slots=True)
class Totals:
    name: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    errors: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_creation_tokens
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total_tokens": self.total_tokens}


async def summary(store: Store, by: str, since: float, until: float) -> list[Totals]:
    """One row per value of ``by`` for requests that ended in [since, until): by day in date
    order, otherwise the busiest first."""
    sql = (
        f"SELECT {DIMENSIONS[by]}, COUNT(*), SUM(COALESCE(input_tokens, 0)), "
        "SUM(COALESCE(output_tokens, 0)), SUM(COALESCE(cache_read_tokens, 0)), "
        "SUM(COALESCE(cache_creation_tokens, 0)), "
        f"SUM(CASE WHEN {FAILED} THEN 1 ELSE 0 END), SUM(cost_usd) "
        f"FROM {TABLE} WHERE ts >= ? AND ts < ? GROUP BY {DIMENSIONS[by]}"
    )
    rows = [
        Totals(str(name), *(int(n or 0) for n in counts), None if cost is None else float(cost))
        for name, *counts, cost in await _fetch_served(store, sql, (since, until))
    ]
    if by == "day":
        return sorted(rows, key=lambda t: t.name)
    return sorted(rows, key=lambda t: (-t.requests, t.name))


async def subscriptions(store: Store, since: float, until: float) -> list[dict[str, Any]]:
    """Each sink's subscription as the latest row of [since, until) that reported it."""
    sql = (
        f"SELECT sink, ts, subscription_status, five_hour_utilization, seven_day_utilization "
        f"FROM {TABLE} WHERE subscription_status IS NOT NULL AND ts >= ? AND ts < ? "
        "ORDER BY ts DESC"
    )
    try:
        rows = await store.fetch(sql, (since, until))
    except Exception:  # a ledger an older gateway made, never opened by this one: no column
        return []
    latest: dict[str, dict[str, Any]] = {}
    for sink, ts, status, five, seven in rows:
        latest.setdefault(sink or "", {"sink": sink or "", "seen_at": ts, "status": status,
                                       "five_hour": five, "seven_day": seven})  # fmt: skip
    return sorted(latest.values(), key=lambda row: row["sink"])


def percentile(ordered: list[float], p: float) -> float | None:
    """The nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


_PERCENTILES = (50, 90, 99)

#: The model that served a request: as its answer named it, else as the sink received it, else
#: as the client asked (an alias and the model it resolved to are one series).
SERVED = "COALESCE(response_model, target_model, model, '')"
_BEFORE_SERVED = "COALESCE(target_model, model, '')"  # a ledger made before response_model
_TOKEN_SUM = "COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0) + " \
    "COALESCE(cache_read_tokens, 0) + COALESCE(cache_creation_tokens, 0)"  # fmt: skip
#: The columns of a recent request on the dashboard: its envelope, never its content.
RECENT = ("ts", "key", "route", "model", "served", "target", "status", "error", "stream",
          "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
          "cost_usd", "latency_ms", "ttfb_ms")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows a dashboard reader sees: every key's (an admin), or one key's own."""

    key: str | None = None
    every_key: bool = True

    def where(self) -> tuple[str, tuple[Any, ...]]:
        if self.every_key:
            return "", ()
        return " AND key_name = ?", (self.key,)


async def _fetch_served(store: Store, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Runs ``sql`` naming the served model; on a ledger no gateway of this version has opened
    (no ``response_model`` column: ``gateway usage`` only reads), without that column."""
    try:
        return await store.fetch(sql, params)
    except Exception:
        if SERVED not in sql:
            raise
        return await store.fetch(sql.replace(SERVED, _BEFORE_SERVED), params)


async def window(
    store: Store, since: float, until: float, buckets: int, scope: Scope = Scope()
) -> dict[str, Any]:
    """What the dashboard draws for [since, until) cut into ``buckets`` equal slices.

    Counts, tokens and cost are added up by the database, grouped by slice, model and key, so
    a 30-day window reads a few thousand groups, not every row; only the latencies of the
    answers are read one by one, for their percentiles.
    """
    since_ms, width_ms = int(since * 1000), max(1, int((until - since) * 1000 / buckets))
    where, args = scope.where()
    # Whole milliseconds divided as integers: the same slice on SQLite and PostgreSQL (whose
    # casts round where SQLite's truncate, which moves a row by under a millisecond).
    slot = "(CAST(ts * 1000 AS BIGINT) - ?) / ?"
    period = (since_ms, width_ms, since, until, *args)
    groups = await _fetch_served(store, (
        f"SELECT {slot}, {SERVED}, COALESCE(model, ''), COALESCE(key_name, ''), COUNT(*), "
        "SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), "
        "SUM(COALESCE(cache_read_tokens, 0)), SUM(COALESCE(cache_creation_tokens, 0)), "
        f"SUM(cost_usd), SUM(CASE WHEN cost_usd IS NULL AND {_TOKEN_SUM} > 0 THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {FAILED} THEN 1 ELSE 0 END) FROM {TABLE} "
        f"WHERE ts >= ? AND ts < ?{where} GROUP BY 1, 2, 3, 4"
    ), period)  # fmt: skip
    errors = await store.fetch(
        f"SELECT COALESCE(error_kind, 'http_' || CAST(status AS TEXT)), COUNT(*) FROM {TABLE} "
        f"WHERE ts >= ? AND ts < ?{where} AND {FAILED} GROUP BY 1",
        (since, until, *args),
    )
    timings = await store.fetch(
        f"SELECT {slot}, latency_ms, ttfb_ms FROM {TABLE} "
        f"WHERE ts >= ? AND ts < ?{where} AND NOT {FAILED} AND latency_ms IS NOT NULL",
        period,
    )
    # Added up on a thread: the event loop then only waits its turn for the GIL (slices of
    # 5 ms) instead of the whole sum (~0.3 s for 10^5 latencies on a busy machine).
    drawn = await asyncio.to_thread(_draw, groups, timings, buckets)
    width = (until - since) / buckets
    errors_by_kind = Counter({str(kind): int(n) for kind, n in errors})
    drawn["totals"]["errors"] = sum(errors_by_kind.values())
    return {"since": since, "until": until, "bucket_seconds": width, "buckets": buckets,
            **drawn, "errors": dict(errors_by_kind.most_common())}  # fmt: skip


async def recent(
    store: Store,
    since: float,
    until: float,
    scope: Scope = Scope(),
    *,
    query: str = "",
    failed_only: bool = False,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The last ``limit`` requests of [since, until), newest first; ``query`` is matched
    (case-sensitively, as SQL LIKE) against key, route, path, models and target."""
    where, args = scope.where()
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        columns = ("key_name", "route", "path", "model", "target_model", "target", "error_kind")
        where += " AND (" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")"
        args += (pattern,) * len(columns)
    if failed_only:
        where += f" AND {FAILED}"
    rows = await _fetch_served(store, (
        f"SELECT ts, key_name, COALESCE(route, path), model, {SERVED}, target, status, "
        "error_kind, stream, input_tokens, output_tokens, cache_read_tokens, "
        f"cache_creation_tokens, cost_usd, latency_ms, ttfb_ms FROM {TABLE} "
        f"WHERE ts >= ? AND ts < ?{where} ORDER BY ts DESC LIMIT {int(limit)}"
    ), (since, until, *args))  # fmt: skip
    return [dict(zip(RECENT, row, strict=True)) | {"stream": bool(row[8])} for row in rows]


def _draw(
    groups: list[tuple[Any, ...]], timings: list[tuple[Any, ...]], buckets: int
) -> dict[str, Any]:
    requests: dict[str, dict[str, list[int]]] = {"model": {}, "key": {}}
    tokens: dict[str, dict[str, list[int]]] = {"model": {}, "key": {}}
    cost: dict[str, dict[str, list[float]]] = {"model": {}, "key": {}}
    asked: dict[str, set[str]] = defaultdict(set)
    unpriced: Counter[str] = Counter()
    totals = Totals("all", cost_usd=0.0)
    for slot, served, model, key, count, tin, tout, tread, tcreate, spent, free, _ in groups:
        at = min(buckets - 1, max(0, int(slot)))
        used = int(tin) + int(tout) + int(tread) + int(tcreate)
        for by, name in (("model", served), ("key", key)):
            requests[by].setdefault(name, [0] * buckets)[at] += int(count)
            tokens[by].setdefault(name, [0] * buckets)[at] += used
            cost[by].setdefault(name, [0.0] * buckets)[at] += float(spent or 0)
        if model and model != served:
            asked[served].add(model)
        if free:
            unpriced[served] += int(free)
        totals.requests += int(count)
        totals.input_tokens += int(tin)
        totals.output_tokens += int(tout)
        totals.cache_read_tokens += int(tread)
        totals.cache_creation_tokens += int(tcreate)
        totals.cost_usd = (totals.cost_usd or 0.0) + float(spent or 0)
    latency: dict[int, list[float]] = defaultdict(list)
    ttfb: dict[int, list[float]] = defaultdict(list)
    for slot, lat, first in timings:
        at = min(buckets - 1, max(0, int(slot)))
        latency[at].append(float(lat))
        if first is not None:
            ttfb[at].append(float(first))
    for by in cost:
        cost[by] = {name: [round(v, 6) for v in values] for name, values in cost[by].items()}
    return {
        "totals": totals.as_dict()
        | {"cost_usd": round(totals.cost_usd or 0.0, 6), "unpriced": sum(unpriced.values())},
        "requests": requests,
        "tokens": tokens,
        "cost": cost,
        #: The names clients asked for that each served model answered to (aliases).
        "aliases": {served: sorted(names) for served, names in asked.items()},
        #: Requests with tokens but no price, by served model: their cost is unknown.
        "unpriced": dict(unpriced.most_common()),
        "latency_ms": _percentiles(latency, buckets),
        "ttfb_ms": _percentiles(ttfb, buckets),
    }


def _percentiles(by_slot: dict[int, list[float]], buckets: int) -> dict[str, Any]:
    every = sorted(v for values in by_slot.values() for v in values)
    ordered = {slot: sorted(values) for slot, values in by_slot.items()}
    return {
        "count": len(every),
        **{f"p{p}": _round(percentile(every, p)) for p in _PERCENTILES},
        "series": {
            f"p{p}": [_round(percentile(ordered.get(i, []), p)) for i in range(buckets)]
            for p in (50, 90)
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
