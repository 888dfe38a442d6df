"""Stored responses read back: ``GET /v1/responses/{id}``, ``GET /v1/responses/{id}/input_items``
and ``DELETE /v1/responses/{id}``, below every route to the Responses endpoint (mounts too).

Each reads the caller's own responses only (the named key's, or the shared owner's): another
owner's is answered as if it did not exist, a 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from sanic.response import HTTPResponse

from ..dialects import OPENAI, openai_responses
from ..errors import InvalidRequest, NotFound, RouteNotFound
from ..flow.answers import json_response
from ..flow.endpoints import Call, Endpoint
from ..response_store.record import StoredResponse
from ..response_store.service import ResponseStore, owner_of

__all__ = ["STORED_RESPONSES_ENDPOINT"]

_MAX_LIMIT = 100
_DEFAULT_LIMIT = 20


async def stored_response(call: Call) -> HTTPResponse:
    request, route = call.request, call.route
    assert route.prefix is not None
    response_id, _, rest = request.path[len(route.prefix) :].rstrip("/").partition("/")
    if not response_id or rest not in ("", "input_items"):
        raise RouteNotFound(
            f"No route serves {request.method} {request.path}: stored responses are read at "
            f"{route.prefix}{{id}} and {route.prefix}{{id}}/input_items."
        )
    store: ResponseStore = call.runtime.services.responses
    owner = owner_of(call.exchange)
    query = parse_qs(request.query_string, keep_blank_values=True)
    if request.method == "DELETE":
        if rest:
            raise InvalidRequest(f"{request.path} cannot be deleted: delete the response itself")
        if not await store.delete(owner, response_id):
            raise _not_found(response_id)
        return json_response({"id": response_id, "object": "response", "deleted": True})
    record = await store.get(owner, response_id)
    if record is None:
        raise _not_found(response_id)
    if rest:
        return json_response(_input_items(record, query))
    if _flag(query, "stream"):
        raise InvalidRequest(
            "This response cannot be streamed because it was not created with background=true.",
            param="stream",
        )
    return json_response(record.response)


def _input_items(record: StoredResponse, query: dict[str, list[str]]) -> dict[str, Any]:
    """A page of the response's own input items, as the SDKs' cursor pages read it."""
    limit = _number(query, "limit", _DEFAULT_LIMIT)
    if not 1 <= limit <= _MAX_LIMIT:
        raise InvalidRequest(f"limit: must be between 1 and {_MAX_LIMIT}", param="limit")
    order = _one(query, "order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequest("order: must be 'asc' or 'desc'", param="order")
    items = record.input if order == "asc" else record.input[::-1]
    after, before = _one(query, "after"), _one(query, "before")
    if after is not None:
        items = items[_position(items, after, "after") + 1 :]
    if before is not None:
        items = items[: _position(items, before, "before")]
        page, more = items[-limit:], len(items) > limit
    else:
        page, more = items[:limit], len(items) > limit
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": more,
    }


def _position(items: list[dict[str, Any]], item_id: str, param: str) -> int:
    for i, item in enumerate(items):
        if item.get("id") == item_id:
            return i
    raise InvalidRequest(f"{param}: no input item '{item_id[:200]}' in this response", param=param)


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _number(query: dict[str, list[str]], name: str, default: int) -> int:
    value = _one(query, name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(f"{name}: expected an integer", param=name) from None


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (_one(query, name) or "").lower() in ("true", "1")


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id[:200]}' not found.")


STORED_RESPONSES_ENDPOINT = Endpoint(
    "openai.responses.stored",
    stored_response,
    methods=("GET", "DELETE"),
    family=OPENAI,
    below=openai_responses.NAME,
)
