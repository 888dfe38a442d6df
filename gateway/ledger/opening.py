"""Opening the store the ledger's settings name: SQLite by default, PostgreSQL for a URL."""

from __future__ import annotations

from .settings import LedgerSettings
from .store import Store

__all__ = ["open_store"]


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
