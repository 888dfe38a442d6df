"""Named client keys: what routes.yaml (or the file it names) says about each, and finding the
key a client presented.

Only a SHA-256 digest of each key is stored. The keys are random (``gateway token`` draws 32
bytes), so a plain digest cannot be reversed by guessing, and no slow password hash is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..exchange import Identity
from .budget_rules import Budget, budgets_from

__all__ = ["NAME_PATTERN", "ClientKey", "KeyRing", "hash_key", "key_from_entry", "new_key"]

_PREFIX = "sha256:"
#: As keys.schema.json says.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def hash_key(key: str) -> str:
    """How a key is written in routes.yaml: ``sha256:`` and the hex digest of its UTF-8 bytes."""
    return _PREFIX + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def new_key() -> str:
    return "gw-" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ClientKey:
    name: str
    digest: bytes
    models: tuple[str, ...] | None = None
    routes: tuple[str, ...] | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    concurrency: int | None = None
    #: Sees every key's usage on the dashboard, not only its own.
    admin: bool = False
    #: The team whose budgets it also counts against (``teams:`` in routes.yaml).
    team: str | None = None
    budgets: tuple[Budget, ...] = ()

    @property
    def limited(self) -> bool:
        return bool(self.requests_per_minute or self.tokens_per_minute or self.concurrency)

    @property
    def identity(self) -> Identity:
        """What a request that presents this key is allowed."""
        return Identity(self.name, self.models, self.routes, admin=self.admin)


class KeyRing:
    """The configured keys, found by the digest of the presented key.

    The lookup is a dict probe on the SHA-256 digest, so its timing can only tell an attacker
    about the digest of what they sent, never about a stored key; the match is then confirmed
    with ``hmac.compare_digest``. A linear scan with compare_digest over every key would cost
    ~0.1 us per key on every request for no gain.
    """

    def __init__(self, keys: tuple[ClientKey, ...] = ()) -> None:
        self.keys = keys
        self._by_digest = {key.digest: key for key in keys}
        self._by_name = {key.name: key for key in keys}

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __iter__(self) -> Iterator[ClientKey]:
        return iter(self.keys)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyRing) and self.keys == other.keys

    def __hash__(self) -> int:
        return hash(self.keys)

    def get(self, name: str | None) -> ClientKey | None:
        return self._by_name.get(name) if name else None

    def find(self, presented: str) -> ClientKey | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = self._by_digest.get(digest)
        if found is None or not hmac.compare_digest(found.digest, digest):
            return None
        return found


def key_from_entry(raw: Mapping[str, Any]) -> ClientKey:
    models, routes = raw.get("models"), raw.get("routes")
    return ClientKey(
        name=raw["name"],
        digest=bytes.fromhex(raw["hash"][len(_PREFIX) :]),
        models=tuple(models) if models is not None else None,
        routes=tuple(r.rstrip("/") or "/" if not r.endswith("/*") else r for r in routes)
        if routes is not None
        else None,
        requests_per_minute=raw.get("requests_per_minute"),
        tokens_per_minute=raw.get("tokens_per_minute"),
        concurrency=raw.get("concurrency"),
        admin=bool(raw.get("admin", False)),
        team=raw.get("team"),
        budgets=budgets_from("key", raw["name"], raw.get("budget")),
    )
