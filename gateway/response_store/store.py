"""What the response store needs of a database, one file per backend: SQLite
(sqlite_store.py), PostgreSQL (postgres_store.py), Redis (redis_store.py).

Every read names its owner: a response or item of another owner is not there. ``now`` is unix
time; a record whose ``expires_at`` is past is not there either, whether or not the backend
has deleted it yet.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from .record import StoredResponse

__all__ = ["Backend", "StoreFailed"]


class StoreFailed(Exception):
    """The database could not be asked (down, unreachable, refusing); the message says why."""


class Backend(abc.ABC):
    kind: str = ""
    location: str = ""

    @abc.abstractmethod
    async def save(self, record: StoredResponse, expires_at: float) -> None:
        """Keeps ``record`` and indexes its item ids (an id already indexed keeps its first
        response)."""

    @abc.abstractmethod
    async def chain(
        self, owner: str, response_id: str, now: float, limit: int
    ) -> list[StoredResponse]:
        """The response and those it continues, newest first, at most ``limit``; the list ends
        early where one is missing (the last one's ``previous_id`` then names it)."""

    @abc.abstractmethod
    async def holders(self, owner: str, item_ids: Sequence[str], now: float) -> dict[str, str]:
        """The id of the response holding each item found, by item id."""

    @abc.abstractmethod
    async def load(
        self, owner: str, response_ids: Sequence[str], now: float
    ) -> dict[str, StoredResponse]:
        """The responses found, by id."""

    @abc.abstractmethod
    async def delete(self, owner: str, response_id: str) -> bool:
        """Deletes a response and its items' index entries; False when it was not there."""

    @abc.abstractmethod
    async def prune(self, now: float) -> int:
        """Deletes what expired before ``now``; returns how many responses."""

    @abc.abstractmethod
    async def close(self) -> None: ...
