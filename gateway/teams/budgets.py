"""Budgets of keys and teams (docs/teams.md#budgets): checked before a request, counted at its
end from the numbers the ledger records (the exchange's cost and tokens), in the limiter's state
store, so every worker and host sharing a Redis shares the spending.

A request is refused (429, in the client's dialect) while any budget it counts against is spent:
the key's own and its team's. What is in flight when a budget runs out still counts, so spending
can pass a budget by the answers that were under way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import BudgetExceeded, LimitsUnavailable
from ..exchange import Exchange
from .budget_rules import Budget, BudgetOptions, Period, period_of
from .keys import ClientKey, KeyRing
from .redis_state import StateUnavailable

__all__ = ["Budgets", "Spending", "tokens_of"]

log = logging.getLogger("gateway.budgets")

#: Counters outlive their period by this much (seconds), then the store drops them.
_KEPT_AFTER = 3600.0


@dataclass(slots=True)
class Spending:
    """The budgets one admitted request counts against, in the periods it began in."""

    budgets: list[Budget]
    periods: list[Period]
    counters: list[str]
    state: Any


def tokens_of(exchange: Exchange) -> int:
    """Every token of the answer, as the ledger's TOTAL TOKENS adds them up."""
    usage = exchange.usage
    if usage is None:
        return 0
    return usage.prompt_tokens + usage.output_tokens


class Budgets:
    def __init__(self, state: Callable[[], Any], on_unavailable: Callable[[], str]) -> None:
        #: The limiter's current state store and its policy when the store is away.
        self._state, self._on_unavailable = state, on_unavailable
        self._keys = KeyRing()
        self._teams: dict[str, tuple[Budget, ...]] = {}
        self.options = BudgetOptions()
        self._unpriced: set[str] = set()

    def configure(
        self, keys: KeyRing, teams: dict[str, tuple[Budget, ...]], options: BudgetOptions
    ) -> None:
        self._keys, self._teams, self.options = keys, teams, options

    def of_key(self, key: ClientKey) -> list[Budget]:
        return [*key.budgets, *(self._teams.get(key.team, ()) if key.team else ())]

    def every(self) -> list[Budget]:
        seen = [b for key in self._keys for b in key.budgets]
        return seen + [b for budgets in self._teams.values() for b in budgets]

    def _counting(self, budgets: list[Budget], now: float) -> tuple[list[Period], list[str]]:
        zone = self.options.zone
        periods = [period_of(b.period, now, zone) for b in budgets]
        counters = [f"{b.ident}:{p.label}" for b, p in zip(budgets, periods, strict=True)]
        return periods, counters

    async def admit(self, key_name: str | None) -> Spending | None:
        """The spending to count at the request's end, or BudgetExceeded (429) when a budget it
        counts against is spent."""
        key = self._keys.get(key_name)
        budgets = self.of_key(key) if key is not None else []
        if not budgets:
            return None
        now = time.time()
        periods, counters = self._counting(budgets, now)
        state = self._state()
        try:
            spent = await state.budget_spent(counters)
        except StateUnavailable as exc:
            if self._on_unavailable() == "closed":
                raise LimitsUnavailable(
                    "The gateway cannot reach the store of its budgets (Redis) and is set to "
                    f"refuse requests meanwhile (state.on_unavailable: closed): {exc}",
                    headers={"retry-after": "1"},
                ) from None
            return Spending(budgets, periods, counters, state)
        for budget, period, (micro, tokens) in zip(budgets, periods, spent, strict=True):
            over = _over(budget, micro, tokens)
            if over:
                raise BudgetExceeded(
                    f"The {budget.scope} '{budget.owner}' has used up its {budget.what} "
                    f"({over} spent); it resets at {self.moment(period.resets)}.",
                    retry_after=period.resets - now,
                )
        return Spending(budgets, periods, counters, state)

    async def count(self, spending: Spending, exchange: Exchange) -> None:
        """Adds the answer's cost and tokens to each budget; logs each warning share crossed."""
        cost, tokens = exchange.cost_usd, tokens_of(exchange)
        if cost is None and tokens and any(b.usd is not None for b in spending.budgets):
            self._no_price(exchange)
        micro = round(cost * 1_000_000) if cost else 0
        if not micro and not tokens:
            return
        expires = [p.resets + _KEPT_AFTER for p in spending.periods]
        try:
            totals = await spending.state.budget_add(spending.counters, micro, tokens, expires)
        except StateUnavailable:
            log.warning("request %s: its spending could not be counted (Redis unreachable): "
                        "$%.6f, %d tokens", exchange.id, cost or 0, tokens)  # fmt: skip
            return
        for budget, (after_micro, after_tokens) in zip(spending.budgets, totals, strict=True):
            self._warn(budget, after_micro - micro, after_micro, after_tokens - tokens,
                       after_tokens)  # fmt: skip

    def _warn(self, budget: Budget, micro0: int, micro1: int, tokens0: int, tokens1: int) -> None:
        for share in budget.warn_at:
            crossed = []
            if budget.usd is not None and micro0 < share * budget.usd * 1e6 <= micro1:
                crossed.append(f"${micro1 / 1e6:,.2f}")
            if budget.tokens is not None and tokens0 < share * budget.tokens <= tokens1:
                crossed.append(f"{tokens1:,} tokens")
            if crossed:
                log.warning("%s: %.0f%% used (%s)", _capital(budget.name), share * 100,
                            ", ".join(crossed))  # fmt: skip

    def _no_price(self, exchange: Exchange) -> None:
        model = exchange.response_model or exchange.target_model or exchange.model or "?"
        if model not in self._unpriced and len(self._unpriced) < 1000:
            self._unpriced.add(model)
            log.warning("the model '%s' has no price (prices: in routes.yaml): its answers count "
                        "toward token budgets only", model)  # fmt: skip

    async def report(self, budgets: Iterable[Budget]) -> list[dict[str, Any]]:
        """Each budget's spending in its current period, for the dashboard; a store that cannot
        be reached leaves ``spent`` unknown (None)."""
        budgets = list(budgets)
        if not budgets:
            return []
        now = time.time()
        periods, counters = self._counting(budgets, now)
        try:
            spent: list[Any] = await self._state().budget_spent(counters)
        except StateUnavailable:
            spent = [None] * len(budgets)
        rows = []
        for budget, period, found in zip(budgets, periods, spent, strict=True):
            micro, tokens = found if found is not None else (None, None)
            rows.append({
                "scope": budget.scope, "owner": budget.owner, "period": budget.period,
                "label": period.label, "starts": period.starts, "resets": period.resets,
                "usd": budget.usd, "tokens": budget.tokens, "warn_at": list(budget.warn_at),
                "spent_usd": None if micro is None else micro / 1e6, "spent_tokens": tokens,
                "state": _state_of(budget, micro, tokens),
            })  # fmt: skip
        return rows

    def moment(self, ts: float) -> str:
        zone = self.options.zone
        local = datetime.fromtimestamp(ts, zone).astimezone(zone)
        return f"{local:%Y-%m-%d %H:%M} {self.options.time_zone or local.tzname()}"


def _over(budget: Budget, micro: int, tokens: int) -> str | None:
    if budget.usd is not None and micro >= round(budget.usd * 1e6):
        return f"${micro / 1e6:,.2f}"
    if budget.tokens is not None and tokens >= budget.tokens:
        return f"{tokens:,} tokens"
    return None


def _state_of(budget: Budget, micro: int | None, tokens: int | None) -> str | None:
    if micro is None or tokens is None:
        return None
    if _over(budget, micro, tokens):
        return "spent"
    shares = []
    if budget.usd:
        shares.append(micro / 1e6 / budget.usd)
    if budget.tokens:
        shares.append(tokens / budget.tokens)
    return "warning" if any(s >= min(budget.warn_at, default=2) for s in shares) else "ok"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
