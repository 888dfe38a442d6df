"""The gateway as a client of an Anthropic Messages upstream: IR to JSON, and SSE back to IR."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ... import ir
from ...errors import GatewayError, UpstreamError
from ...wire.anthropic import (
    message_from_ir,
    parameters_from_ir,
    response_to_ir,
    tool_from_ir,
    with_extra,
)
from ...wire.anthropic_stream import EventDecoder
from ...wire.sse import ServerSentEvent
from ...wire.turns import results_follow_calls
from ..base import DEFAULT_MAX_TOKENS, ModelEntry

NAME = "anthropic.messages"

#: Claude's server tools for the hosted tools of the IR.
SERVER_TOOLS = {"web_search": {"type": "web_search_20250305", "name": "web_search"}}

__all__ = ["StreamDecoder", "decode_response", "encode_request"]


def encode_request(request: ir.Request, *, default_max_tokens: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [message_from_ir(m) for m in results_follow_calls(request.messages)],
        "max_tokens": default_max_tokens or DEFAULT_MAX_TOKENS,
    }
    if request.system:
        body["system"] = request.system
    body.update(parameters_from_ir(request))
    tools = [tool_from_ir(tool) for tool in request.tools]
    tools += [dict(SERVER_TOOLS[name]) for name in request.hosted_tools]
    if tools:
        body["tools"] = tools
    if request.stream:
        body["stream"] = True
    if request.extra_dialect == NAME:
        body = with_extra(body, request.extra)
    return body


def model_entries(body: dict[str, Any]) -> list[ModelEntry]:
    """The models of a ``GET /v1/models`` answer."""
    return [
        ModelEntry(m["id"], _timestamp(m.get("created_at")), m.get("display_name"))
        for m in body["data"]
    ]


def _timestamp(value: Any) -> int:
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def decode_response(body: dict[str, Any]) -> ir.Response:
    if not isinstance(body, dict):
        raise UpstreamError(
            f"The upstream sent a message the gateway cannot read: a JSON {type(body).__name__}"
            ", not an object"
        )
    try:
        return response_to_ir(body)
    except GatewayError as exc:
        raise UpstreamError(f"The upstream sent a message the gateway cannot read: {exc}") from exc


class StreamDecoder:
    """Anthropic SSE from an upstream as IR events."""

    def __init__(self) -> None:
        self._events = EventDecoder()

    def decode(self, sse: ServerSentEvent) -> list[ir.Event]:
        if sse.event == "ping" or not sse.data:
            return []
        return self._events.decode(sse.json())
