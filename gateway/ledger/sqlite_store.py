"""The default ledger: a SQLite file (stdlib sqlite3), used from one thread of its own.

Every call runs on a single worker thread that owns the connection, so the event loop never
waits on the disk; sqlite3 releases the GIL while SQLite works. WAL lets ``gateway usage``
read while the gateway writes.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .record import COLUMNS, CREATE_STATEMENTS, INSERT, TABLE, UPGRADES
from .store import Store

__all__ = ["LedgerMissing", "SqliteStore"]

#: How long a write waits for another connection's lock (``gateway usage`` reading, say).
BUSY_TIMEOUT_MS = 5000


class LedgerMissing(FileNotFoundError):
    """No ledger file exists yet (nothing was served with it)."""


@functools.lru_cache(maxsize=8)
def _insert_many(rows: int) -> str:
    """``INSERT ... VALUES (?, ...), (?, ...)`` for ``rows`` rows."""
    head, _, values = INSERT.partition(" VALUES ")
    return f"{head} VALUES {', '.join([values] * rows)}"


class SqliteStore(Store):
    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.location = str(path)
        self._path = path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="usage-ledger")
        self._connection: sqlite3.Connection | None = None
        self._chunk = 1

    @classmethod
    async def open(cls, path: Path, *, create: bool = True) -> SqliteStore:
        store = cls(path)
        try:
            await store._run(store._connect, create)
        except BaseException:
            store._thread.shutdown(wait=False)
            raise
        return store

    def _connect(self, create: bool) -> None:
        if not create and not self._path.exists():
            raise LedgerMissing(f"no usage ledger at {self._path} (nothing recorded yet)")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        limit = connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._chunk = max(1, min(500, limit // len(COLUMNS)))
        if create:
            connection.execute("PRAGMA journal_mode = WAL")
            for statement in CREATE_STATEMENTS:
                connection.execute(statement)
            present = {row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})")}
            for name, kind in UPGRADES:
                if name not in present:
                    connection.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {kind}")
        # WAL with synchronous=NORMAL: a crash of the machine may lose the last batches, never
        # corrupt the file; a full fsync per batch would cost more than the rest together.
        connection.execute("PRAGMA synchronous = NORMAL")
        self._connection = connection

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    async def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        await self._run(self._insert, rows)

    def _insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        # One multi-row INSERT per chunk, not executemany: executemany gives the GIL up and
        # takes it back for every row, each time competing with the event loop's thread; a
        # chunk binds its values at once and runs SQLite once (~3.7 against ~4.4 µs CPU a row).
        assert self._connection is not None
        with self._connection:  # one transaction
            self._connection.execute("BEGIN")
            for start in range(0, len(rows), self._chunk):
                chunk = rows[start : start + self._chunk]
                values = [value for row in chunk for value in row]
                self._connection.execute(_insert_many(len(chunk)), values)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._run(self._fetch, sql, params)

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        assert self._connection is not None
        return self._connection.execute(sql, params).fetchall()

    async def delete_before(self, ts: float) -> int:
        return await self._run(self._delete_before, ts)

    def _delete_before(self, ts: float) -> int:
        assert self._connection is not None
        return self._connection.execute(f"DELETE FROM {TABLE} WHERE ts < ?", (ts,)).rowcount

    async def close(self) -> None:
        if self._connection is not None:
            await self._run(self._connection.close)
            self._connection = None
        self._thread.shutdown(wait=True)
