"""Responses in Redis, shared by every gateway that names it: one hash per response (``meta``:
its previous response and the ids of all those before it; ``document``: the record), one key
per item id naming its response, each expiring with the retention period (Redis deletes them
itself: there is nothing to prune).

A response lists every response its conversation continues, so that a conversation of any
length is read in two round trips (its list, then all of them in one pipeline) instead of one
per response: measured by bench/response_store.py, 50 responses took ~52 ms walked one by one
on a loaded machine.

Keys: ``<prefix>response:<owner>:<id>`` and ``<prefix>item:<owner>:<item id>``, the owner in
hex, so that no owner's name can reach into another's keys.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..redaction import shown_url
from ..wire.json_codec import dumps, loads
from .record import StoredResponse
from .store import Backend, StoreFailed

__all__ = ["RedisBackend"]


class RedisBackend(Backend):
    kind = "redis"

    def __init__(self, url: str, prefix: str = "gateway:") -> None:
        self.location = shown_url(url)
        self._prefix = prefix
        self._client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)

    def _response_key(self, owner: str, response_id: str) -> str:
        return f"{self._prefix}response:{owner.encode().hex()}:{response_id}"

    def _item_key(self, owner: str, item_id: str) -> str:
        return f"{self._prefix}item:{owner.encode().hex()}:{item_id}"

    async def _call(self, work: Any) -> Any:
        try:
            return await work
        except RedisError as exc:
            raise StoreFailed(f"{type(exc).__name__}: {exc}") from exc

    async def _meta(self, owner: str, response_id: str) -> dict[str, Any] | None:
        raw = await self._call(self._client.hget(self._response_key(owner, response_id), "meta"))
        return None if raw is None else loads(raw)

    async def save(self, record: StoredResponse, expires_at: float) -> None:
        # With no retention (expires_at infinite) the keys are kept until deleted.
        seconds = None if math.isinf(expires_at) else max(1, math.ceil(expires_at - time.time()))
        ancestors: list[str] = []
        if record.previous_id is not None:
            previous = await self._meta(record.owner, record.previous_id)
            ancestors = [record.previous_id, *(previous or {}).get("ancestors", [])]
        meta = {"previous_id": record.previous_id, "created_at": record.created_at,
                "ancestors": ancestors}  # fmt: skip
        key = self._response_key(record.owner, record.id)
        pipeline = self._client.pipeline(transaction=True)
        pipeline.hset(key, mapping={"meta": dumps(meta), "document": record.document()})
        if seconds is not None:
            pipeline.expire(key, seconds)
        for item_id in record.item_ids():
            pipeline.set(self._item_key(record.owner, item_id), record.id, ex=seconds, nx=True)
        await self._call(pipeline.execute())

    async def chain(
        self, owner: str, response_id: str, now: float, limit: int
    ) -> list[StoredResponse]:
        meta = await self._meta(owner, response_id)
        if meta is None:
            return []
        ids = [response_id, *meta["ancestors"]][:limit]
        found = await self.load(owner, ids, now)
        chain = []
        for one in ids:
            if one not in found:
                break  # the one before it names what is gone
            chain.append(found[one])
        return chain

    async def holders(self, owner: str, item_ids: Sequence[str], now: float) -> dict[str, str]:
        values = await self._call(self._client.mget([self._item_key(owner, i) for i in item_ids]))
        return {i: v.decode() for i, v in zip(item_ids, values, strict=True) if v is not None}

    async def load(
        self, owner: str, response_ids: Sequence[str], now: float
    ) -> dict[str, StoredResponse]:
        pipeline = self._client.pipeline(transaction=False)
        for response_id in response_ids:
            pipeline.hmget(self._response_key(owner, response_id), "meta", "document")
        values = await self._call(pipeline.execute())
        found = {}
        for response_id, (meta, document) in zip(response_ids, values, strict=True):
            if meta is None or document is None:
                continue
            data = loads(meta)
            found[response_id] = StoredResponse.from_document(
                response_id, owner, document, data["previous_id"], data["created_at"]
            )
        return found

    async def delete(self, owner: str, response_id: str) -> bool:
        record = (await self.load(owner, [response_id], time.time())).get(response_id)
        if record is None:
            return False
        item_keys = [self._item_key(owner, i) for i in record.item_ids()]
        holders = await self._call(self._client.mget(item_keys)) if item_keys else []
        ours = [k for k, v in zip(item_keys, holders, strict=True) if v == response_id.encode()]
        deleted = await self._call(
            self._client.delete(self._response_key(owner, response_id), *ours)
        )
        return bool(deleted)

    async def prune(self, now: float) -> int:
        return 0

    async def close(self) -> None:
        await self._client.aclose()
