"""The writer keeps rows a failing database refused, writes them once it is back, never twice."""

from __future__ import annotations

import asyncio

from gateway.ledger import writer as writer_module
from gateway.ledger.settings import LedgerSettings
from gateway.ledger.store import Store
from gateway.ledger.writer import LedgerWriter


class FlakyStore(Store):
    backend, location = "test", "memory"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rows: list[tuple] = []
        self.closed = False
        self.recovered = asyncio.Event()  # set at the first write that succeeds

    async def insert(self, rows):
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database down")
        self.recovered.set()
        self.rows += rows

    async def fetch(self, sql, params=()):
        return []

    async def delete_before(self, ts):
        return 0

    async def close(self):
        self.closed = True


def test_rows_survive_a_database_that_is_down(monkeypatch):
    monkeypatch.setattr(writer_module, "_RETRY_AFTER", 0.01)
    store = FlakyStore(failures=3)

    async def scenario():
        writer = LedgerWriter(store, LedgerSettings(flush_interval=0.01, retention_days=0))
        writer.start()
        for i in range(1200):  # more than two batches
            writer.add((i,))
            if i % 100 == 0:
                await asyncio.sleep(0.005)
        async with asyncio.timeout(30):  # the writer's retries exhaust the failures
            await store.recovered.wait()
        await writer.close()
        return writer

    writer = asyncio.run(scenario())
    assert sorted(store.rows) == [(i,) for i in range(1200)]
    assert (writer.written, writer.pending, writer.dropped, store.closed) == (1200, 0, 0, True)


def test_what_cannot_be_written_at_shutdown_is_reported_not_raised(caplog):
    store = FlakyStore(failures=10**6)

    async def scenario():
        writer = LedgerWriter(store, LedgerSettings(flush_interval=60))
        writer.start()
        writer.add((1,))
        await writer.close()

    asyncio.run(scenario())
    assert "1 rows could not be written at shutdown" in caplog.text and store.closed
