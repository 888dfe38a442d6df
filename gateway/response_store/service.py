"""The response store as a service of the app: the backend the configuration names, opened at
start (again after a reload that moves it), and what the Responses endpoints ask of it.

A response belongs to its owner: the named key that created it, or one owner shared by the
single token, no auth and plugins' own identities. Nothing here lets one owner reach another's
responses: every read and delete names the owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from ..config import Config
from ..errors import InvalidRequest, SinkUnavailable
from ..exchange import Exchange
from ..wire.json_codec import dumps
from .record import StoredResponse
from .settings import StoreSettings
from .store import Backend, StoreFailed

__all__ = ["ResponseStore", "StoreUnavailable", "owner_of"]

log = logging.getLogger("gateway.responses")

#: The longest conversation ``previous_response_id`` follows (a chain of responses).
MAX_CHAIN = 10_000
_PRUNE_EVERY = 3600.0
_SAVE_TIMEOUT = 30.0


class StoreUnavailable(SinkUnavailable):
    """The store of responses cannot be reached (503)."""


def owner_of(exchange: Exchange) -> str:
    """Whose responses a request reads and writes: its named key's, else the shared owner."""
    return exchange.key_name or ""


class ResponseStore:
    def __init__(self) -> None:
        self.settings = StoreSettings(enabled=False)
        self.backend: Backend | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._pruning: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    async def configure(self, config: Config) -> None:
        settings = StoreSettings.from_config(config)
        if settings == self.settings and (self.backend is not None or not settings.enabled):
            return
        previous, self.backend, self.settings = self.backend, None, settings
        if settings.enabled:
            try:
                self.backend = await _open(settings)
            except Exception as exc:
                log.error("response store %s cannot be opened; responses are not kept: %s",
                          settings.location, exc)  # fmt: skip
            else:
                log.info("response store: %s", settings.location)
                if self._pruning is None:
                    self._pruning = asyncio.get_running_loop().create_task(self._prune_often())
        if previous is not None:
            await self._settle()
            await previous.close()

    async def close(self) -> None:
        if self._pruning is not None:
            self._pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruning
            self._pruning = None
        await self._settle()
        if self.backend is not None:
            backend, self.backend = self.backend, None
            await backend.close()
        self.settings = StoreSettings(enabled=False)

    # --- reading ----------------------------------------------------------------------------

    async def get(self, owner: str, response_id: str) -> StoredResponse | None:
        backend = self._backend()
        found = await self._ask(backend.load(owner, [response_id], time.time()))
        return found.get(response_id)

    async def conversation(self, owner: str, response_id: str) -> list[dict[str, Any]] | None:
        """The items of the conversation ``response_id`` ends, oldest first; None when it is
        not stored (for this owner)."""
        chain = await self._ask(self._backend().chain(owner, response_id, time.time(), MAX_CHAIN))
        if not chain:
            return None
        if chain[-1].previous_id is not None:
            missing = chain[-1].previous_id
            raise InvalidRequest(
                f"previous_response_id: the conversation of '{response_id[:200]}' continues "
                f"'{missing[:200]}', which is no longer stored (deleted or past the retention "
                "period); send the whole conversation in 'input'",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return [item for record in reversed(chain) for item in record.items()]

    async def items(self, owner: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored items of these ids that exist for ``owner``, by id."""
        backend, now = self._backend(), time.time()
        holders = await self._ask(backend.holders(owner, item_ids, now))
        if not holders:
            return {}
        records = await self._ask(backend.load(owner, sorted(set(holders.values())), now))
        found = {}
        for item_id, response_id in holders.items():
            record = records.get(response_id)
            item = record.item(item_id) if record is not None else None
            if item is not None:
                found[item_id] = item
        return found

    async def delete(self, owner: str, response_id: str) -> bool:
        return await self._ask(self._backend().delete(owner, response_id))

    # --- writing ----------------------------------------------------------------------------

    def refuse_oversized(self, own_input: list[dict[str, Any]]) -> None:
        """A 400 before the sink is asked, when the input alone is over the size cap."""
        size = len(dumps(own_input))
        if size > self.settings.max_bytes:
            raise InvalidRequest(
                f"store: this request's input takes {size:,} bytes as JSON, more than the "
                f"{self.settings.max_bytes:,} a stored response may take on this gateway "
                '(responses.max_bytes); send "store": false, or a smaller input',
                param="store",
            )

    async def save(
        self, owner: str, response: dict[str, Any], own_input: list[dict[str, Any]]
    ) -> str | None:
        """Keeps ``response``; None once kept, else why not (said in the log too)."""
        backend = self.backend
        if backend is None:
            return "the response store is not open"
        record = StoredResponse(
            response["id"], owner, response, own_input, response.get("previous_response_id"),
            float(response.get("created_at") or time.time()),
        )  # fmt: skip
        size = len(record.document())
        if size > self.settings.max_bytes:
            problem = f"{size} bytes, over responses.max_bytes ({self.settings.max_bytes})"
            log.warning("response %s was not stored: %s", record.id, problem)
            return problem
        try:
            async with asyncio.timeout(_SAVE_TIMEOUT):
                await backend.save(record, self._expiry())
        except (StoreFailed, TimeoutError) as exc:
            log.error("response %s was not stored in %s: %s", record.id, self.settings.location,
                      exc or "timed out")  # fmt: skip
            return "the response store failed (the gateway's log says why)"
        return None

    def save_later(
        self, owner: str, response: dict[str, Any], own_input: list[dict[str, Any]]
    ) -> None:
        """Keeps ``response`` without being awaited (a stream whose client left)."""
        task = asyncio.get_running_loop().create_task(self.save(owner, response, own_input))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def closed_because(self) -> str:
        """Why no response is kept now, fit for a client to read."""
        if not self.settings.enabled:
            return "responses.enabled is false in the gateway's routes.yaml"
        return "the response store could not be opened (the gateway's log says why)"

    # --- inside -----------------------------------------------------------------------------

    def _backend(self) -> Backend:
        if self.backend is not None:
            return self.backend
        if not self.settings.enabled:
            raise InvalidRequest(
                "This gateway keeps no responses (responses.enabled is false in its routes.yaml): "
                "send the whole conversation in 'input'."
            )
        raise StoreUnavailable(
            "The gateway's response store could not be opened (its log says why); send the "
            "whole conversation in 'input', or try again later."
        )

    async def _ask(self, work: Any) -> Any:
        try:
            return await work
        except StoreFailed as exc:
            log.error("response store %s: %s", self.settings.location, exc)
            raise StoreUnavailable(
                "The gateway's response store cannot be reached now (its log says why); try "
                "again later.",
                headers={"retry-after": "1"},
            ) from None

    def _expiry(self) -> float:
        days = self.settings.retention_days
        return time.time() + days * 86400 if days else math.inf

    async def _settle(self) -> None:
        """Waits for the saves still running (streams whose clients left)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=_SAVE_TIMEOUT)

    async def _prune_often(self) -> None:
        while True:
            backend = self.backend
            if backend is not None:
                try:
                    deleted = await backend.prune(time.time())
                except StoreFailed as exc:
                    log.warning("response store: expired responses not deleted: %s", exc)
                else:
                    if deleted:
                        log.info("response store: %d expired responses deleted", deleted)
            await asyncio.sleep(_PRUNE_EVERY)


async def _open(settings: StoreSettings) -> Backend:
    if settings.backend == "redis":
        from .redis_store import RedisBackend

        assert settings.url is not None
        return RedisBackend(settings.url, settings.redis_prefix)
    if settings.backend == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "responses.url names PostgreSQL, which needs psycopg: "
                "pip install 'claude-gateway[postgres]'"
            ) from None
        from .postgres_store import PostgresBackend

        assert settings.url is not None
        return PostgresBackend(settings.url)
    from .sqlite_store import SqliteBackend

    assert settings.path is not None
    return await SqliteBackend.open(settings.path)
