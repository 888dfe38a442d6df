"""Rows pending at shutdown survive a store that is unavailable then: they go to a spill file
beside the database and are written at the next start (issue 25, row 4: the hostile probe lost
40/40 rows to a SQLite file locked by another process, 50/50 to a full database, 30/30 to a
PostgreSQL server stopped before the gateway)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from postgres_server import PostgresServer

from gateway.config import load_config
from gateway.exchange import Exchange
from gateway.ledger import sqlite_store
from gateway.ledger.service import Ledger

ROUTES = """
version: 1
sinks:
  up: {kind: http, base_url: "http://127.0.0.1:9", dialect: anthropic.messages}
routes:
  - {path: /v1/messages, dialect: anthropic.messages}
usage:
  LEDGER
  flush_interval: 60   # nothing is written before shutdown
"""


def _exchanges(count: int, tag: str) -> list[Exchange]:
    exchanges = []
    for i in range(count):
        exchange = Exchange(f"{tag}-{i}", "POST", "/v1/messages", {}, "127.0.0.1")
        exchange.route, exchange.model, exchange.status = "/v1/messages", "opus", 200
        exchange.finished = exchange.started + 0.01
        exchanges.append(exchange)
    return exchanges


def _config(tmp_path: Path, lines: str):
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.replace("LEDGER", lines))
    return load_config(path)


async def _serve_then_stop(config, exchanges, break_store) -> Ledger:
    ledger = Ledger()
    await ledger.configure(config)
    assert ledger.writer is not None
    for exchange in exchanges:
        ledger.record(exchange)
    await break_store(ledger)
    await ledger.close()
    return ledger


async def _start_again(config) -> None:
    ledger = Ledger()
    await ledger.configure(config)
    await ledger.close()


def _sqlite_ids(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT request_id FROM gateway_requests")}


def _spill_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".spill" in p.name)


def test_a_sqlite_file_locked_by_another_process(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 200)  # the lock outlasts it anyway
    database = tmp_path / "usage.db"
    config = _config(tmp_path, f"path: {database}")
    holder = None

    async def lock(ledger):
        nonlocal holder
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sqlite3, sys\n"
             f"c = sqlite3.connect({str(database)!r}, isolation_level=None)\n"
             "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert await asyncio.to_thread(holder.stdout.readline) == "locked\n"

    try:
        asyncio.run(_serve_then_stop(config, _exchanges(40, "locked"), lock))
    finally:
        if holder is not None:
            holder.communicate("", timeout=30)  # stdin closed: it ends, and the lock with it
    assert "40 rows could not be written at shutdown" in caplog.text
    assert _sqlite_ids(database) == set()
    [spilled] = _spill_files(tmp_path)
    assert spilled.startswith("usage.db.") and spilled.endswith(".spill")

    asyncio.run(_start_again(config))
    assert _sqlite_ids(database) == {f"locked-{i}" for i in range(40)}
    assert _spill_files(tmp_path) == []


def test_a_full_database(tmp_path):
    database = tmp_path / "usage.db"
    config = _config(tmp_path, f"path: {database}")

    async def fill_up(ledger):
        # SQLite's own "database or disk is full" (SQLITE_FULL): no page may be added.
        store = ledger.writer.store
        await store._run(store._connection.execute, "PRAGMA max_page_count = 1")

    asyncio.run(_serve_then_stop(config, _exchanges(50, "full"), fill_up))
    assert _sqlite_ids(database) == set() and len(_spill_files(tmp_path)) == 1
    asyncio.run(_start_again(config))
    assert _sqlite_ids(database) == {f"full-{i}" for i in range(50)}
    assert _spill_files(tmp_path) == []


def test_a_postgresql_server_stopped_before_the_gateway(tmp_path, monkeypatch):
    server = PostgresServer().start()
    monkeypatch.setenv("GATEWAY_USAGE_DB", str(tmp_path / "usage.db"))  # the spill's folder
    try:
        config = _config(tmp_path, f"url: {server.url}")

        async def stop_postgres(ledger):
            await asyncio.to_thread(server.pause)

        async def scenario():
            first = Ledger()  # the gateway has written to the server before it stops
            await first.configure(config)
            first.record(_exchanges(1, "before")[0])
            await first.close()
            await _serve_then_stop(config, _exchanges(30, "pg"), stop_postgres)

        asyncio.run(scenario())
        assert len(_spill_files(tmp_path)) == 1
        server.resume()
        asyncio.run(_start_again(config))
        with psycopg.connect(server.url) as connection:
            rows = connection.execute("SELECT request_id FROM gateway_requests").fetchall()
        assert {row[0] for row in rows} == {"before-0"} | {f"pg-{i}" for i in range(30)}
        assert _spill_files(tmp_path) == []
    finally:
        server.stop()


def test_workers_sharing_a_ledger_each_keep_their_own_rows(tmp_path):
    """Two writers (two workers) stopping against one locked-up database: both spill, neither
    overwrites the other, and one start takes both files back."""
    database = tmp_path / "usage.db"
    config = _config(tmp_path, f"path: {database}")

    async def scenario():
        ledgers = [Ledger(), Ledger()]
        for ledger, (count, tag) in zip(ledgers, ((7, "one"), (9, "two")), strict=True):
            await ledger.configure(config)
            for exchange in _exchanges(count, tag):
                ledger.record(exchange)
            store = ledger.writer.store
            await store._run(store._connection.execute, "PRAGMA query_only = 1")
        await asyncio.gather(*(ledger.close() for ledger in ledgers))  # both at once

    asyncio.run(scenario())
    assert len(_spill_files(tmp_path)) == 2
    asyncio.run(_start_again(config))
    assert len(_sqlite_ids(database)) == 16 and _spill_files(tmp_path) == []


@pytest.mark.parametrize("damage", ["truncated", "not json"])
def test_a_spill_file_that_cannot_be_read_is_left_alone(tmp_path, caplog, damage):
    database = tmp_path / "usage.db"
    config = _config(tmp_path, f"path: {database}")
    broken = tmp_path / "usage.db.1-dead.spill"
    broken.write_text('{"columns": ["ts"' if damage == "truncated" else "garbage\n")
    asyncio.run(_start_again(config))
    assert "cannot be read" in caplog.text
    assert _spill_files(tmp_path) == ["usage.db.1-dead.spill.unreadable"]
    asyncio.run(_start_again(config))  # never taken again
    assert _spill_files(tmp_path) == ["usage.db.1-dead.spill.unreadable"]
