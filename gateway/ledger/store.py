"""What the ledger needs of a database: write batches, run read queries, drop old rows.

One file per backend (sqlite_store.py, postgres_store.py); SQL is written once, with ``?``
placeholders, and each store adapts it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from .settings import LedgerSettings

__all__ = ["Store", "open_store"]


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


async def open_store(settings: LedgerSettings, *, create: bool = True) -> Store:
    """The store the settings name, its table created (unless ``create`` is false: a reader
    such as ``gateway usage`` does not create a ledger)."""
    if settings.url:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "usage.url names PostgreSQL, which needs psycopg: "
                "pip install 'claude-gateway[postgres]'"
            ) from None
        from .postgres_store import PostgresStore

        return await PostgresStore.open(settings.url, settings.location, create=create)
    from .sqlite_store import SqliteStore

    assert settings.path is not None
    return await SqliteStore.open(settings.path, create=create)
