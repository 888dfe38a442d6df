"""Budgets as routes.yaml states them: per key (``auth.keys[].budget``) and per team
(``teams.<name>.budget``), dollars and/or tokens per day, week or month in ``budgets.time_zone``.

Pure data and calendar arithmetic; budgets.py counts them in the state store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["Budget", "BudgetOptions", "Period", "budgets_from", "period_of"]

PERIODS = ("day", "week", "month")
_ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}


@dataclass(frozen=True, slots=True)
class Budget:
    #: ``key`` or ``team``.
    scope: str
    owner: str
    period: str
    usd: float | None = None
    tokens: int | None = None
    #: Shares of the budget that are logged and shown when crossed.
    warn_at: tuple[float, ...] = (0.8,)

    @property
    def what(self) -> str:
        """``daily budget of $10.00 and 2,000,000 tokens``."""
        limits = [f"${self.usd:,.2f}" if self.usd is not None else "",
                  f"{self.tokens:,} tokens" if self.tokens is not None else ""]  # fmt: skip
        return f"{_ADJECTIVE[self.period]} budget of {' and '.join(p for p in limits if p)}"

    @property
    def name(self) -> str:
        return f"the {self.what} of the {self.scope} '{self.owner}'"

    @property
    def ident(self) -> str:
        return f"{self.scope}:{self.owner}:{self.period}"


@dataclass(frozen=True, slots=True)
class BudgetOptions:
    #: An IANA name (``Europe/Paris``); None: the gateway's local time zone.
    time_zone: str | None = None

    @property
    def zone(self) -> Any:
        return ZoneInfo(self.time_zone) if self.time_zone else None

    @classmethod
    def from_options(cls, raw: Mapping[str, Any]) -> BudgetOptions:
        return cls(time_zone=raw.get("time_zone") or None)


@dataclass(frozen=True, slots=True)
class Period:
    #: The period's name in its counters: ``2026-12-08``, ``2026-W50``, ``2026-12``.
    label: str
    starts: float
    resets: float


def period_of(period: str, now: float, zone: Any) -> Period:
    """The day, week (from Monday) or month that ``now`` falls in, in ``zone`` (None: local)."""
    moment = datetime.fromtimestamp(now, zone).astimezone(zone)
    day = moment.date()
    if period == "day":
        first, after, label = day, day + timedelta(days=1), day.isoformat()
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
        year, week, _ = first.isocalendar()
        label = f"{year}-W{week:02d}"
    else:
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
        label = f"{first:%Y-%m}"
    return Period(label, _midnight(first, zone), _midnight(after, zone))


def _midnight(day: Any, zone: Any) -> float:
    # A midnight that a DST jump skips (a few zones jump at 00:00) is read as the instant
    # after the jump, by the zone's rules for a wall time that does not exist (PEP 495).
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def budget_entries(raw: Any) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    return list(raw) if isinstance(raw, list) else [raw]


def budgets_from(scope: str, owner: str, raw: Any) -> tuple[Budget, ...]:
    """The budgets of one ``budget:`` entry: a mapping, or a list of them."""
    return tuple(
        Budget(
            scope=scope,
            owner=owner,
            period=entry["period"],
            usd=float(entry["usd"]) if entry.get("usd") is not None else None,
            tokens=int(entry["tokens"]) if entry.get("tokens") is not None else None,
            warn_at=tuple(sorted(entry.get("warn_at", (0.8,)))),
        )
        for entry in budget_entries(raw)
    )
