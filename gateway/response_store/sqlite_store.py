"""The default store: a SQLite file (stdlib sqlite3) beside the usage ledger, used from one
thread of its own, as the ledger's is: the event loop never waits on the disk, and WAL lets
another process read while this one writes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import sql
from .record import StoredResponse
from .store import Backend, StoreFailed

__all__ = ["SqliteBackend"]


class SqliteBackend(Backend):
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.location = str(path)
        self._path = path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="response-store")
        self._connection: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path) -> SqliteBackend:
        backend = cls(path)
        try:
            await backend._run(backend._connect)
        except BaseException:
            backend._thread.shutdown(wait=False)
            raise
        return backend

    def _connect(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout = 5000")
        connection.execute("PRAGMA journal_mode = WAL")
        # A response is answered only once it is saved: a commit that survives the process
        # (not a power cut: synchronous=NORMAL, as the ledger's) took 0.13-0.15 ms (p50, 0.23
        # ms of CPU with the thread's hand-off) in bench/response_store.py, not an fsync's.
        connection.execute("PRAGMA synchronous = NORMAL")
        for statement in sql.CREATE_STATEMENTS:
            connection.execute(statement)
        self._connection = connection

    async def _run(self, function: Any, *args: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)
        except sqlite3.Error as exc:
            raise StoreFailed(f"{type(exc).__name__}: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._connection is not None
        return self._connection

    async def save(self, record: StoredResponse, expires_at: float) -> None:
        await self._run(self._save, sql.response_row(record, expires_at),
                        sql.item_rows(record, expires_at))  # fmt: skip

    def _save(self, row: tuple[Any, ...], items: list[tuple[Any, ...]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(sql.INSERT_RESPONSE, row)
            self._db.executemany(sql.INSERT_ITEM, items)

    async def chain(
        self, owner: str, response_id: str, now: float, limit: int
    ) -> list[StoredResponse]:
        rows = await self._run(self._fetch, sql.CHAIN, (owner, response_id, now, owner, now, limit))
        return [sql.record_from(owner, row) for row in rows]

    async def holders(self, owner: str, item_ids: Sequence[str], now: float) -> dict[str, str]:
        query = sql.holders_query(len(item_ids))
        return dict(await self._run(self._fetch, query, (owner, now, *item_ids)))

    async def load(
        self, owner: str, response_ids: Sequence[str], now: float
    ) -> dict[str, StoredResponse]:
        query = sql.load_query(len(response_ids))
        rows = await self._run(self._fetch, query, (owner, now, *response_ids))
        return {row[0]: sql.record_from(owner, row) for row in rows}

    def _fetch(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._db.execute(query, params).fetchall()

    async def delete(self, owner: str, response_id: str) -> bool:
        return await self._run(self._delete, owner, response_id)

    def _delete(self, owner: str, response_id: str) -> bool:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(sql.DELETE_ITEMS, (owner, response_id))
            return self._db.execute(sql.DELETE_RESPONSE, (owner, response_id)).rowcount > 0

    async def prune(self, now: float) -> int:
        return await self._run(self._prune, now)

    def _prune(self, now: float) -> int:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(sql.PRUNE_ITEMS, (now,))
            return self._db.execute(sql.PRUNE_RESPONSES, (now,)).rowcount

    async def close(self) -> None:
        if self._connection is not None:
            await self._run(self._connection.close)
            self._connection = None
        self._thread.shutdown(wait=True)
