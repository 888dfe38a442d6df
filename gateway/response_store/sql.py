"""The SQL of the response store, written once with ``?`` placeholders: SQLite runs it as it
is, the PostgreSQL store swaps them for psycopg's ``%s``. Type names mean the same to both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .record import StoredResponse

__all__ = [
    "CHAIN",
    "CREATE_STATEMENTS",
    "DELETE_ITEMS",
    "DELETE_RESPONSE",
    "INSERT_ITEM",
    "INSERT_RESPONSE",
    "PRUNE_ITEMS",
    "PRUNE_RESPONSES",
    "TABLE",
    "holders_query",
    "item_rows",
    "load_query",
    "record_from",
    "response_row",
]

TABLE = "gateway_responses"
ITEMS = "gateway_response_items"

CREATE_STATEMENTS = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "owner TEXT NOT NULL, id TEXT NOT NULL, previous_id TEXT, "
    "created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL, "
    "document TEXT NOT NULL, PRIMARY KEY (owner, id))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_expires ON {TABLE} (expires_at)",
    f"CREATE TABLE IF NOT EXISTS {ITEMS} ("
    "owner TEXT NOT NULL, item_id TEXT NOT NULL, response_id TEXT NOT NULL, "
    "expires_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (owner, item_id))",
    f"CREATE INDEX IF NOT EXISTS {ITEMS}_response ON {ITEMS} (owner, response_id)",
    f"CREATE INDEX IF NOT EXISTS {ITEMS}_expires ON {ITEMS} (expires_at)",
)

INSERT_RESPONSE = (
    f"INSERT INTO {TABLE} (owner, id, previous_id, created_at, expires_at, document) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# An id the client sent again in a later request keeps pointing at its first response.
INSERT_ITEM = (
    f"INSERT INTO {ITEMS} (owner, item_id, response_id, expires_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (owner, item_id) DO NOTHING"
)

#: (owner, id, now, owner, now, limit): the response, then each one it continues.
CHAIN = (
    "WITH RECURSIVE chain (id, previous_id, created_at, document, depth) AS ("
    f"SELECT id, previous_id, created_at, document, 0 FROM {TABLE} "
    "WHERE owner = ? AND id = ? AND expires_at > ? "
    "UNION ALL "
    "SELECT r.id, r.previous_id, r.created_at, r.document, chain.depth + 1 "
    f"FROM {TABLE} r JOIN chain ON r.id = chain.previous_id "
    "WHERE r.owner = ? AND r.expires_at > ? AND chain.depth + 1 < ?"
    ") SELECT id, previous_id, created_at, document FROM chain ORDER BY depth"
)

DELETE_ITEMS = f"DELETE FROM {ITEMS} WHERE owner = ? AND response_id = ?"
DELETE_RESPONSE = f"DELETE FROM {TABLE} WHERE owner = ? AND id = ?"
PRUNE_ITEMS = f"DELETE FROM {ITEMS} WHERE expires_at <= ?"
PRUNE_RESPONSES = f"DELETE FROM {TABLE} WHERE expires_at <= ?"


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def holders_query(count: int) -> str:
    return (
        f"SELECT item_id, response_id FROM {ITEMS} "
        f"WHERE owner = ? AND expires_at > ? AND item_id IN ({_marks(count)})"
    )


def load_query(count: int) -> str:
    return (
        f"SELECT id, previous_id, created_at, document FROM {TABLE} "
        f"WHERE owner = ? AND expires_at > ? AND id IN ({_marks(count)})"
    )


def response_row(record: StoredResponse, expires_at: float) -> tuple[Any, ...]:
    return (
        record.owner,
        record.id,
        record.previous_id,
        record.created_at,
        expires_at,
        record.document().decode(),
    )


def item_rows(record: StoredResponse, expires_at: float) -> list[tuple[Any, ...]]:
    return [(record.owner, item_id, record.id, expires_at) for item_id in record.item_ids()]


def record_from(owner: str, row: Sequence[Any]) -> StoredResponse:
    response_id, previous_id, created_at, document = row
    return StoredResponse.from_document(response_id, owner, document, previous_id, created_at)
