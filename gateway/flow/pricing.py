"""The cost of a finished request, worked out once at its end (dispatch.py) for every hook to
see: budgets, the ledger, the access log and traces all read ``exchange.cost_usd``."""

from __future__ import annotations

from ..exchange import Exchange
from ..teams.prices import PriceTable, answer_cost

__all__ = ["price_answer"]


def price_answer(prices: PriceTable, exchange: Exchange) -> None:
    """Prices the answer's tokens at the model that answered (else the name its sink got, else
    the one asked for); keeps the sink's own figure for a model the table does not price."""
    names = (exchange.response_model, exchange.target_model, exchange.model)
    exchange.cost_usd = answer_cost(prices, exchange.usage, names, exchange.cost_usd)
