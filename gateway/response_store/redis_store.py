"""Responses in Redis, shared by every gateway that names it: one key per response holding its
document, one per item id naming its response, each expiring with the retention period (Redis
deletes them itself: there is nothing to prune).

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

    async def save(self, record: StoredResponse, expires_at: float) -> None:
        # With no retention (expires_at infinite) the keys are kept until deleted.
        seconds = None if math.isinf(expires_at) else max(1, math.ceil(expires_at - time.time()))
        value = dumps({"previous_id": record.previous_id, "created_at": record.created_at,
                       "response": record.response, "input": record.input})  # fmt: skip
        pipeline = self._client.pipeline(transaction=True)
        pipeline.set(self._response_key(record.owner, record.id), value, ex=seconds)
        for item_id in record.item_ids():
            pipeline.set(self._item_key(record.owner, item_id), record.id, ex=seconds, nx=True)
        await self._call(pipeline.execute())

    async def chain(
        self, owner: str, response_id: str, now: float, limit: int
    ) -> list[StoredResponse]:
        found: list[StoredResponse] = []
        next_id: str | None = response_id
        while next_id is not None and len(found) < limit:
            record = (await self.load(owner, [next_id], now)).get(next_id)
            if record is None:
                break
            found.append(record)
            next_id = record.previous_id
        return found

    async def holders(self, owner: str, item_ids: Sequence[str], now: float) -> dict[str, str]:
        values = await self._call(self._client.mget([self._item_key(owner, i) for i in item_ids]))
        return {i: v.decode() for i, v in zip(item_ids, values, strict=True) if v is not None}

    async def load(
        self, owner: str, response_ids: Sequence[str], now: float
    ) -> dict[str, StoredResponse]:
        keys = [self._response_key(owner, i) for i in response_ids]
        values = await self._call(self._client.mget(keys))
        found = {}
        for response_id, value in zip(response_ids, values, strict=True):
            if value is None:
                continue
            data = loads(value)
            found[response_id] = StoredResponse(
                response_id,
                owner,
                data["response"],
                data["input"],
                data["previous_id"],
                data["created_at"],
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
