"""The usage ledger under load, in SQLite and in a real PostgreSQL server: every request of a
served gateway is one row once it has stopped, with the envelope and never the content."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import anthropic
import openai
import psycopg
import pytest
from mock_upstream import Reply
from postgres_server import PostgresServer

from gateway.commands.main import main
from gateway.config import load_config
from gateway.exchange import Identity
from gateway.flow.auth import presented_token
from gateway.hookspecs import hookimpl
from gateway.ledger.opening import open_store
from gateway.ledger.record import COLUMNS
from gateway.ledger.report import summary, window
from gateway.ledger.settings import LedgerSettings
from gateway.ledger.sqlite_store import SqliteStore
from gateway.server.plugins import build_plugin_manager

ROUTES = """
version: 1
sinks:
  up:
    kind: http
    base_url: ${MOCK_URL}
    dialect: anthropic.messages
models:
  - name: opus
    aliases: [gpt-4o]
  - name: haiku
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
access_log:
  enabled: false
usage:
  LEDGER
  flush_interval: 60   # nothing is written before shutdown: the test sees the last flush
"""
SECRET = "a-private-question-never-stored"
KEYS = {"key-alice": "alice", "key-bob": "bob"}
REQUESTS = 120


class NamedKeys:
    """Stands in for named client keys: answers the identity of a named key, as they do."""

    @hookimpl
    def gateway_authenticate(self, exchange):
        return Identity(KEYS.get(presented_token(exchange.headers) or ""))


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path):
    """The ``usage:`` lines of routes.yaml and how to read the rows the gateway wrote."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        return f"path: {path}", lambda sql: sqlite3.connect(path).execute(sql).fetchall()
    server = request.getfixturevalue("postgres")
    with psycopg.connect(server.url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS gateway_requests")

    def read(sql):
        with psycopg.connect(server.url) as connection:
            return connection.execute(sql).fetchall()

    return f"url: {server.url}", read


def _traffic(url: str) -> Counter:
    """REQUESTS requests from 8 threads: both SDKs, streamed or not, two keys, two models, and
    every 10th refused by the upstream (529). Returns what was sent, by outcome."""
    sent: Counter = Counter()
    clients = {
        key: (
            openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0),
            anthropic.Anthropic(base_url=url, api_key=key, max_retries=0),
        )
        for key in KEYS
    }

    def one(i: int) -> None:
        key = "key-alice" if i % 3 else "key-bob"
        openai_client, anthropic_client = clients[key]
        model = "haiku" if i % 2 else "opus"
        fail = " fail-me" if i % 10 == 0 else ""
        messages = [{"role": "user", "content": f"{SECRET} {i}{fail}"}]
        try:
            if i % 4 == 0:
                stream = i % 8 == 0
                answer = openai_client.chat.completions.create(
                    model=model, messages=messages, stream=stream
                )
                if stream:
                    list(answer)
            elif i % 5 == 1:
                with anthropic_client.messages.stream(
                    model=model, max_tokens=9, messages=messages
                ) as stream:
                    stream.get_final_message()
            else:
                anthropic_client.messages.create(model=model, max_tokens=9, messages=messages)
            sent[(KEYS[key], model, 200)] += 1
        except (openai.APIStatusError, anthropic.APIStatusError) as error:
            sent[(KEYS[key], model, error.status_code)] += 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(REQUESTS)))
    return sent


def test_every_request_is_one_row_after_shutdown(ledger, mock, serve, write_config, monkeypatch):
    lines, read = ledger
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    mock.when("fail-me", Reply(error=(529, "overloaded_error", "busy")))
    mock.when(
        SECRET, Reply(text="fine", input_tokens=13, output_tokens=5, cache_read_input_tokens=2)
    )
    config = load_config(write_config(ROUTES.replace("LEDGER", lines)))
    plugins = build_plugin_manager(config)
    plugins.register(NamedKeys())
    served = serve(config, plugins=plugins)
    sent = _traffic(served.url)
    assert sum(sent.values()) == REQUESTS
    served.stop()  # the rows are written at shutdown, however long flush_interval is

    rows = read(
        "SELECT key_name, model, status, input_tokens, output_tokens, cache_read_tokens, "
        "error_kind, latency_ms, request_id, dialect, sink FROM gateway_requests"
    )
    assert Counter((key, model, status) for key, model, status, *_ in rows) == sent
    assert len({row[8] for row in rows}) == REQUESTS  # one row per request, none twice
    for *_, status, tin, tout, tread, error, latency, _, dialect, sink in rows:
        assert latency > 0 and dialect in ("anthropic.messages", "openai.chat")
        if status == 200:
            assert (tin, tout, tread, error, sink) == (13, 5, 2, None, "up")
        else:
            assert (status in (429, 529), tin, error) == (True, None, "overloaded_error")
    every_value = json.dumps(read("SELECT * FROM gateway_requests"), default=str)
    assert SECRET not in every_value


def test_reports_agree_with_the_rows(ledger, tmp_path):
    """summary() and window() read the same totals on both stores (rows written directly)."""
    lines, _ = ledger
    config_path = tmp_path / "routes.yaml"
    config_path.write_text(ROUTES.replace("LEDGER", lines).replace("${MOCK_URL}", "http://x"))
    settings = LedgerSettings.from_config(load_config(config_path))

    async def scenario():
        store = await open_store(settings)
        rows = [
            _row(1000.0 + i, f"2026-01-0{1 + i % 2}", "opus" if i % 3 else "haiku",
                 "alice" if i % 2 else None, 200 if i % 5 else 529, float(i))
            for i in range(30)
        ]  # fmt: skip
        await store.insert(rows)
        by_day = await summary(store, "day", 0, 2000)
        by_model = await summary(store, "model", 0, 2000)
        drawn = await window(store, 1000, 1030, 3)
        await store.close()
        return by_day, by_model, drawn

    by_day, by_model, drawn = asyncio.run(scenario())
    assert [(t.name, t.requests) for t in by_day] == [("2026-01-01", 15), ("2026-01-02", 15)]
    assert [(t.name, t.requests, t.errors) for t in by_model] == [("opus", 20, 4), ("haiku", 10, 2)]
    assert by_model[0].input_tokens == 20 * 10 and by_model[0].total_tokens == 20 * 16
    assert drawn["requests"]["model"]["opus"] == [6, 7, 7]
    assert drawn["requests"]["key"] == {"": [5, 5, 5], "alice": [5, 5, 5]}
    assert drawn["errors"] == {"overloaded_error": 6}
    ok = sorted(float(i) for i in range(30) if i % 5)
    assert drawn["latency_ms"]["p50"] == ok[11] and drawn["latency_ms"]["p99"] == ok[-1]
    assert drawn["totals"]["requests"] == 30 and drawn["totals"]["errors"] == 6


def _row(ts, day, model, key, status, latency, subscription=(None, None, None)):
    error = None if status < 400 else "overloaded_error"
    return (ts, day, f"r{ts}", "host", key, "POST", "/v1/messages", "/v1/messages",
            "anthropic.messages", model, model, "up", False, status, error, 10, 4, 1, 1,
            latency / 2, latency, None, f"up/{model}", 1, *subscription, None)  # fmt: skip


def test_gateway_usage_reads_the_ledger(ledger, tmp_path, capsys):
    lines, _ = ledger
    config_path = tmp_path / "routes.yaml"
    config_path.write_text(ROUTES.replace("LEDGER", lines).replace("${MOCK_URL}", "http://x"))
    settings = LedgerSettings.from_config(load_config(config_path))

    async def fill():
        store = await open_store(settings)
        await store.insert([_row(1_699_963_200.0 + i, "2023-11-14", "opus", "bob", 200, 5.0,
                                 ("allowed_warning", 0.5 + i / 10, 0.25) if i < 3 else
                                 (None, None, None))
                            for i in range(4)])  # fmt: skip
        await store.insert([_row(1_699_963_300.0, "2023-11-14", "opus", None, 200, 5.0)])
        await store.close()

    asyncio.run(fill())  # 2023-11-14 at noon UTC: that day in nearly every time zone
    status = main(["usage", "--config", str(config_path), "--since", "2023-11-01",
                   "--until", "2023-11-30", "--json"])  # fmt: skip
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["by"]["key"] == [
        {"name": "bob", "requests": 4, "input_tokens": 40, "output_tokens": 16,
         "cache_read_tokens": 4, "cache_creation_tokens": 4, "errors": 0, "cost_usd": None,
         "total_tokens": 64},
        # A request without a key name: null here, (none) in the tables (docs/usage.md).
        {"name": None, "requests": 1, "input_tokens": 10, "output_tokens": 4,
         "cache_read_tokens": 1, "cache_creation_tokens": 1, "errors": 0, "cost_usd": None,
         "total_tokens": 16},
    ]  # fmt: skip
    assert report["total"]["requests"] == 5
    # Each sink's subscription as the last row of the period that reported it.
    assert [(s["sink"], s["status"], s["five_hour"], s["seven_day"])
            for s in report["subscriptions"]] == [("up", "allowed_warning", 0.7, 0.25)]  # fmt: skip
    assert main(["usage", "--config", str(config_path), "--since", "2023-11-14",
                 "--until", "2023-11-14", "--by", "model,key"]) == 0  # fmt: skip
    table = capsys.readouterr().out.splitlines()
    assert table[2].split() == ["MODEL", "REQUESTS", "INPUT", "OUTPUT", "CACHE", "READ", "CACHE",
                                "WRITE", "TOTAL", "TOKENS", "ERRORS"]  # fmt: skip
    assert table[4].split() == ["opus", "5", "50", "20", "5", "5", "80", "0"]
    assert table[6].split() == ["TOTAL", "5", "50", "20", "5", "5", "80", "0"]
    assert table[11].split() == ["(none)", "1", "10", "4", "1", "1", "16", "0"]
    assert table[-2].split() == ["SUBSCRIPTION", "STATUS", "5", "HOURS", "7", "DAYS", "AS", "OF"]
    assert table[-1].split()[:4] == ["up", "allowed_warning", "70%", "25%"]


def test_a_ledger_an_earlier_version_made_gets_the_new_columns(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # the table as the first release made it
        old.execute(f"CREATE TABLE gateway_requests ({', '.join(COLUMNS[:22])})")
        old.execute(f"INSERT INTO gateway_requests VALUES ({', '.join('?' * 22)})",
                    _row(1.0, "2026-01-01", "opus", None, 200, 5.0)[:22])  # fmt: skip

    async def reopen():
        store = await SqliteStore.open(path)
        await store.insert([_row(2.0, "2026-01-01", "opus", None, 200, 5.0)])
        rows = await store.fetch("SELECT ts, target, attempts FROM gateway_requests ORDER BY ts")
        await store.close()
        return rows

    assert asyncio.run(reopen()) == [(1.0, None, None), (2.0, "up/opus", 1)]


def test_a_reload_that_moves_the_ledger_loses_no_row(
    mock, serve, write_config, monkeypatch, tmp_path
):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    path = write_config(ROUTES.replace("LEDGER", f"path: {first}"))
    served = serve(path)
    client = anthropic.Anthropic(base_url=served.url, api_key="k", max_retries=0)
    hello = [{"role": "user", "content": "hello"}]
    for _ in range(3):
        client.messages.create(model="opus", max_tokens=5, messages=hello)
    path.write_text(path.read_text().replace(str(first), str(second)))
    assert served.call(served.app.ctx.reloader.reload("test")) is True
    for _ in range(2):
        client.messages.create(model="opus", max_tokens=5, messages=hello)
    served.stop()
    count = "SELECT COUNT(*) FROM gateway_requests"
    assert sqlite3.connect(first).execute(count).fetchone() == (3,)
    assert sqlite3.connect(second).execute(count).fetchone() == (2,)
