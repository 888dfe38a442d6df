"""A ledger several gateways share: a PostgreSQL database, through psycopg 3's async API.

psycopg (not asyncpg) because it is libpq: the URL, ``PG*`` variables, ``.pgpass``, service
files and ``sslmode`` mean exactly what they mean to ``psql``; and ``executemany`` sends a batch
in one pipelined round trip. One connection, opened again after it breaks; psycopg serialises
the calls made on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .record import CREATE_STATEMENTS, INSERT, TABLE, UPGRADES
from .store import Store

__all__ = ["PostgresStore"]

_CONNECT_TIMEOUT = 10


def _placeholders(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (the ledger's SQL holds no other ``?`` or ``%``)."""
    return sql.replace("?", "%s")


class PostgresStore(Store):
    backend = "postgresql"

    def __init__(self, url: str, location: str, *, create: bool = True) -> None:
        self.location = location
        self._url = url
        self._create = create
        self._connection: Any = None
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str, location: str, *, create: bool = True) -> PostgresStore:
        """Connects when first used: a database that is down at start delays the rows (the
        writer retries), it does not stop the gateway."""
        return cls(url, location, create=create)

    async def _connected(self) -> Any:
        import psycopg

        if self._connection is not None and not self._connection.closed:
            return self._connection
        connection = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT
        )
        if self._create:
            async with connection.transaction():
                # Gateways starting together would race on CREATE TABLE IF NOT EXISTS.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
                for statement in CREATE_STATEMENTS:
                    await connection.execute(statement)
                for name, kind in UPGRADES:
                    await connection.execute(
                        f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {name} {kind}"
                    )
        self._connection = connection
        return connection

    async def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        async with self._lock:
            connection = await self._connected()
            async with connection.transaction(), connection.cursor() as cursor:
                await cursor.executemany(_placeholders(INSERT), rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._lock:
            connection = await self._connected()
            async with connection.cursor() as cursor:
                await cursor.execute(_placeholders(sql), params)
                return await cursor.fetchall()

    async def delete_before(self, ts: float) -> int:
        async with self._lock:
            connection = await self._connected()
            cursor = await connection.execute(f"DELETE FROM {TABLE} WHERE ts < %s", (ts,))
            return cursor.rowcount

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
