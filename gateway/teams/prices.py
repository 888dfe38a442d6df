"""What an answer cost: one price table, the defaults below with routes.yaml's ``prices:`` over
them (docs/usage.md#prices), read at the request's end by budgets, the ledger and the logs alike.

A model is looked up by the name that answered (the upstream's own, ``claude-opus-5-5``), then
the name the sink received, then the one the client asked for: exact names first, then globs,
the user's entries before the defaults. A model found nowhere has no price: its cost is None
(shown as "no price", never as $0), unless its sink reported one (the Claude CLI does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .. import ir

__all__ = ["DEFAULT_PRICES", "PRICES_DATE", "PRICES_SOURCE", "Price", "PriceTable", "answer_cost"]

#: Where the defaults come from, and when they were read (docs/usage.md says so too).
PRICES_SOURCE = "https://platform.claude.com/docs/en/about-claude/pricing"
PRICES_DATE = "2026-12-08"


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens of each kind."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    #: A prompt (every input token) above this many tokens is billed at ``long`` instead.
    long_above: int | None = None
    long: Price | None = None

    def cost(self, usage: ir.Usage) -> float:
        if self.long is not None and self.long_above and usage.prompt_tokens > self.long_above:
            return self.long.cost(usage)
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_input_tokens * self.cache_read
            + usage.cache_creation_input_tokens * self.cache_write
        ) / 1_000_000

    @classmethod
    def from_entry(cls, raw: Mapping[str, Any]) -> Price:
        """An entry of ``prices:``; cache prices default to the API's multipliers of input
        (reads 0.1x, five-minute writes 1.25x)."""
        base = float(raw["input"])
        long = raw.get("long")
        return cls(
            input=base,
            output=float(raw["output"]),
            cache_read=float(raw.get("cache_read", base * 0.1)),
            cache_write=float(raw.get("cache_write", base * 1.25)),
            long_above=int(long["above_input_tokens"]) if long else None,
            long=cls.from_entry(long) if long else None,
        )


def _p(i: float, o: float, read: float, write: float) -> dict[str, float]:
    return {"input": i, "output": o, "cache_read": read, "cache_write": write}


#: The API's list prices (five-minute cache writes) of every model it lists, and of the CLI's
#: aliases (``opus`` and friends name the newest of their family).
DEFAULT_PRICES: dict[str, dict[str, Any]] = {
    "claude-fable-5-1*": _p(10, 50, 0.25, 12.5),
    "claude-mythos-5-1*": _p(10, 50, 0.25, 12.5),
    "claude-fable-5*": _p(10, 50, 1, 12.5),
    "claude-mythos-5*": _p(10, 50, 1, 12.5),
    "claude-opus-5-5*": _p(4, 20, 0.2, 5),
    "claude-opus-5*": _p(5, 25, 0.5, 6.25),
    "claude-opus-4-5*": _p(5, 25, 0.5, 6.25),
    "claude-opus-4-6*": _p(5, 25, 0.5, 6.25),
    "claude-opus-4-7*": _p(5, 25, 0.5, 6.25),
    "claude-opus-4-8*": _p(5, 25, 0.5, 6.25),
    "claude-opus-4-1*": _p(15, 75, 1.5, 18.75),
    "claude-opus-4*": _p(15, 75, 1.5, 18.75),
    "claude-3-opus*": _p(15, 75, 1.5, 18.75),
    "claude-sonnet-5-5*": _p(2, 10, 0.1, 2.5),
    "claude-sonnet-5*": _p(2, 10, 0.2, 2.5),
    "claude-sonnet-4*": _p(3, 15, 0.3, 3.75),
    "claude-3-7-sonnet*": _p(3, 15, 0.3, 3.75),
    "claude-haiku-5-5*": _p(0.1, 0.5, 0.01, 0.125)
    | {"long": _p(0.5, 2.5, 0.05, 0.625) | {"above_input_tokens": 100_000}},
    "claude-haiku-4-5*": _p(1, 5, 0.1, 1.25),
    "claude-3-5-haiku*": _p(0.8, 4, 0.08, 1),
    "claude-3-haiku*": _p(0.25, 1.25, 0.03, 0.3),
    "opus": _p(4, 20, 0.2, 5),
    "sonnet": _p(2, 10, 0.1, 2.5),
    "haiku": _p(0.1, 0.5, 0.01, 0.125)
    | {"long": _p(0.5, 2.5, 0.05, 0.625) | {"above_input_tokens": 100_000}},
}


class PriceTable:
    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.overrides = dict(overrides or {})
        entries = [(name, Price.from_entry(raw)) for name, raw in self.overrides.items()]
        entries += [(n, Price.from_entry(r)) for n, r in DEFAULT_PRICES.items()]
        self._exact: dict[str, Price] = {}
        self._globs: list[tuple[str, Price]] = []
        for name, price in entries:
            if any(c in name for c in "*?["):
                self._globs.append((name, price))
            else:
                self._exact.setdefault(name, price)
        self._found: dict[str, Price | None] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PriceTable) and self.overrides == other.overrides

    def __hash__(self) -> int:
        return hash(tuple(self.overrides))

    def price(self, model: str) -> Price | None:
        try:
            return self._found[model]
        except KeyError:
            pass
        found = self._exact.get(model)
        if found is None:
            found = next((p for pattern, p in self._globs if fnmatchcase(model, pattern)), None)
        if len(self._found) < 4096:  # model names come from clients: the memo stays bounded
            self._found[model] = found
        return found

    def first_price(self, names: Iterable[str | None]) -> Price | None:
        for name in names:
            if name:
                price = self.price(name)
                if price is not None:
                    return price
        return None


def answer_cost(
    table: PriceTable, usage: ir.Usage | None, names: Iterable[str | None], reported: float | None
) -> float | None:
    """The cost of an answer: its tokens at the first of ``names`` the table prices, else what
    its sink ``reported``, else None (no price). No tokens (a refusal) cost nothing."""
    if usage is None:
        return reported
    price = table.first_price(names)
    if price is None:
        return reported
    return price.cost(usage)
