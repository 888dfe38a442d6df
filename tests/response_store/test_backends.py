"""The response store's backends against real databases: a SQLite file, a PostgreSQL server
and a redis-server, each started for the module on 127.0.0.1. The same scenarios run on each."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator

import psycopg
import pytest
import redis
from teams.real_servers import RedisServer

from gateway.response_store.postgres_store import PostgresBackend
from gateway.response_store.record import StoredResponse
from gateway.response_store.redis_store import RedisBackend
from gateway.response_store.sqlite_store import SqliteBackend
from gateway.response_store.store import Backend


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.kill()


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def opened(request, tmp_path):
    """Opens a fresh backend of each kind inside the test's event loop."""
    if request.param == "sqlite":
        return lambda: SqliteBackend.open(tmp_path / "responses.db")
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").url
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("DROP TABLE IF EXISTS gateway_responses, gateway_response_items")

        async def postgresql() -> Backend:
            return PostgresBackend(url)

        return postgresql
    url = request.getfixturevalue("redis_server").url
    redis.Redis.from_url(url).flushdb()

    async def in_redis() -> Backend:
        return RedisBackend(url, "test:")

    return in_redis


def record(response_id: str, owner: str = "alice", previous: str | None = None) -> StoredResponse:
    output = [
        {"type": "reasoning", "id": f"rs_{response_id}_0", "summary": []},
        {"type": "message", "id": f"msg_{response_id}_1", "role": "assistant",
         "content": [{"type": "output_text", "text": f"answer {response_id}"}]},
    ]  # fmt: skip
    response = {"id": response_id, "object": "response", "output": output,
                "previous_response_id": previous}  # fmt: skip
    asked = [{"type": "message", "id": f"msg_in_{response_id}", "role": "user",
              "content": [{"type": "input_text", "text": f"question {response_id}"}]}]  # fmt: skip
    return StoredResponse(response_id, owner, response, asked, previous, time.time())


def run(opened, scenario):
    async def go():
        backend = await opened()
        try:
            return await scenario(backend)
        finally:
            await backend.close()

    return asyncio.run(go())


def test_a_conversation_is_kept_followed_and_read_by_item(opened):
    async def scenario(backend: Backend):
        later = time.time() + 3600
        await backend.save(record("resp_1"), later)
        await backend.save(record("resp_2", previous="resp_1"), later)
        await backend.save(record("resp_3", previous="resp_2"), later)
        now = time.time()
        chain = await backend.chain("alice", "resp_3", now, 100)
        holders = await backend.holders("alice", ["msg_resp_1_1", "msg_in_resp_2", "nope"], now)
        loaded = await backend.load("alice", ["resp_2", "resp_9"], now)
        capped = await backend.chain("alice", "resp_3", now, 2)
        return chain, holders, loaded, capped

    chain, holders, loaded, capped = run(opened, scenario)
    assert [r.id for r in chain] == ["resp_3", "resp_2", "resp_1"]
    assert [r.previous_id for r in chain] == ["resp_2", "resp_1", None]
    assert chain[2].response["output"][1]["content"][0]["text"] == "answer resp_1"
    assert chain[1].input[0]["id"] == "msg_in_resp_2"
    assert holders == {"msg_resp_1_1": "resp_1", "msg_in_resp_2": "resp_2"}
    assert list(loaded) == ["resp_2"] and loaded["resp_2"].items()[0]["id"] == "msg_in_resp_2"
    assert [r.id for r in capped] == ["resp_3", "resp_2"]


def test_an_owner_never_reads_or_deletes_another_owners_responses(opened):
    async def scenario(backend: Backend):
        later, now = time.time() + 3600, time.time()
        await backend.save(record("resp_a", owner="alice"), later)
        seen = (
            await backend.chain("bob", "resp_a", now, 10),
            await backend.holders("bob", ["msg_resp_a_1"], now),
            await backend.load("bob", ["resp_a"], now),
            await backend.delete("bob", "resp_a"),
        )
        kept = await backend.load("alice", ["resp_a"], now)
        return seen, kept

    seen, kept = run(opened, scenario)
    assert seen == ([], {}, {}, False)
    assert list(kept) == ["resp_a"]


def test_an_owner_name_cannot_reach_into_another_owners_keys(opened):
    """Owners whose names, joined to an id, spell the same text stay apart."""

    async def scenario(backend: Backend):
        later, now = time.time() + 3600, time.time()
        await backend.save(record("b:resp", owner="a"), later)
        return await backend.load("a:b", ["resp"], now), await backend.load("a", ["b:resp"], now)

    other, own = run(opened, scenario)
    assert other == {} and list(own) == ["b:resp"]


def test_delete_and_expiry_leave_nothing_to_continue(opened):
    async def scenario(backend: Backend):
        now = time.time()
        await backend.save(record("resp_1"), now + 3600)
        await backend.save(record("resp_2", previous="resp_1"), now + 3600)
        await backend.save(record("resp_old"), now + 60)
        await backend.save(record("resp_forever"), math.inf)
        deleted = await backend.delete("alice", "resp_1"), await backend.delete("alice", "resp_1")
        broken = await backend.chain("alice", "resp_2", now, 10)
        gone = await backend.holders("alice", ["msg_resp_1_1", "msg_resp_2_1"], now)
        later = now + 120
        if isinstance(backend, RedisBackend):  # Redis expires its keys by itself
            expired, pruned = None, None
        else:
            expired = await backend.load("alice", ["resp_old", "resp_forever"], later)
            pruned = (
                await backend.prune(later),
                await backend.holders("alice", ["rs_resp_old_0"], 0),
            )
        return deleted, broken, gone, expired, pruned

    deleted, broken, gone, expired, pruned = run(opened, scenario)
    assert deleted == (True, False)
    # The chain ends where a response is missing: its last one names what is gone.
    assert [(r.id, r.previous_id) for r in broken] == [("resp_2", "resp_1")]
    assert gone == {"msg_resp_2_1": "resp_2"}
    if expired is not None:
        assert list(expired) == ["resp_forever"]
        assert pruned == (1, {})


def test_redis_keys_expire_with_the_retention_period(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()

    async def scenario() -> None:
        backend = RedisBackend(redis_server.url, "test:")
        await backend.save(record("resp_old"), time.time() + 60)
        await backend.save(record("resp_forever"), math.inf)
        await backend.close()

    asyncio.run(scenario())
    ttls = {key.decode(): client.ttl(key) for key in client.keys("test:*")}
    old = [ttl for key, ttl in ttls.items() if "resp_old" in key]
    forever = [ttl for key, ttl in ttls.items() if "resp_forever" in key]
    # Each: its response and the ids of its three items.
    assert len(old) == 4 and all(0 < ttl <= 60 for ttl in old)
    assert forever == [-1] * 4
