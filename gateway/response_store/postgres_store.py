"""Responses several gateways share: a PostgreSQL database through psycopg 3's async API, as
the usage ledger's (gateway/ledger/postgres_store.py says why psycopg). One connection,
opened when first used and again after it breaks; psycopg serialises the calls made on it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..redaction import shown_url
from . import sql
from .record import StoredResponse
from .store import Backend, StoreFailed

__all__ = ["PostgresBackend"]

_CONNECT_TIMEOUT = 10


def _placeholders(query: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (the store's SQL holds no other ``?`` or ``%``)."""
    return query.replace("?", "%s")


class PostgresBackend(Backend):
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.location = shown_url(url)
        self._url = url
        self._connection: Any = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> Any:
        import psycopg

        if self._connection is not None and not self._connection.closed:
            return self._connection
        connection = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT
        )
        async with connection.transaction():
            # Gateways starting together would race on CREATE TABLE IF NOT EXISTS.
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (sql.TABLE,))
            for statement in sql.CREATE_STATEMENTS:
                await connection.execute(statement)
        self._connection = connection
        return connection

    async def _run(self, work: Any) -> Any:
        import psycopg

        async with self._lock:
            try:
                return await work(await self._connected())
            except psycopg.Error as exc:
                raise StoreFailed(f"{type(exc).__name__}: {exc}") from exc

    async def _fetch(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async def fetch(connection: Any) -> list[tuple[Any, ...]]:
            async with connection.cursor() as cursor:
                await cursor.execute(_placeholders(query), params)
                return await cursor.fetchall()

        return await self._run(fetch)

    async def save(self, record: StoredResponse, expires_at: float) -> None:
        row, items = sql.response_row(record, expires_at), sql.item_rows(record, expires_at)

        async def save(connection: Any) -> None:
            async with connection.transaction(), connection.cursor() as cursor:
                await cursor.execute(_placeholders(sql.INSERT_RESPONSE), row)
                if items:
                    await cursor.executemany(_placeholders(sql.INSERT_ITEM), items)

        await self._run(save)

    async def chain(
        self, owner: str, response_id: str, now: float, limit: int
    ) -> list[StoredResponse]:
        rows = await self._fetch(sql.CHAIN, (owner, response_id, now, owner, now, limit))
        return [sql.record_from(owner, row) for row in rows]

    async def holders(self, owner: str, item_ids: Sequence[str], now: float) -> dict[str, str]:
        rows = await self._fetch(sql.holders_query(len(item_ids)), (owner, now, *item_ids))
        return dict(rows)  # type: ignore[arg-type]

    async def load(
        self, owner: str, response_ids: Sequence[str], now: float
    ) -> dict[str, StoredResponse]:
        query = sql.load_query(len(response_ids))
        rows = await self._fetch(query, (owner, now, *response_ids))
        return {row[0]: sql.record_from(owner, row) for row in rows}

    async def delete(self, owner: str, response_id: str) -> bool:
        async def delete(connection: Any) -> bool:
            async with connection.transaction():
                await connection.execute(_placeholders(sql.DELETE_ITEMS), (owner, response_id))
                cursor = await connection.execute(
                    _placeholders(sql.DELETE_RESPONSE), (owner, response_id)
                )
                return cursor.rowcount > 0

        return await self._run(delete)

    async def prune(self, now: float) -> int:
        async def prune(connection: Any) -> int:
            async with connection.transaction():
                await connection.execute(_placeholders(sql.PRUNE_ITEMS), (now,))
                cursor = await connection.execute(_placeholders(sql.PRUNE_RESPONSES), (now,))
                return cursor.rowcount

        return await self._run(prune)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
