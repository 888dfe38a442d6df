"""What the ledger needs of a database: write batches, run read queries, drop old rows.

One file per backend (sqlite_store.py, postgres_store.py), chosen by opening.py; SQL is written
once, with ``?`` placeholders, and each store adapts it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

__all__ = ["Store"]


class Store(abc.ABC):
    backend: str = ""
    location: str = ""

    @abc.abstractmethod
    async def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Writes the rows in one transaction; all or none of them."""

    @abc.abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows a read query returns."""

    @abc.abstractmethod
    async def delete_before(self, ts: float) -> int:
        """Deletes the rows that ended before ``ts``; returns how many."""

    @abc.abstractmethod
    async def close(self) -> None: ...
