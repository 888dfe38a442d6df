"""Client dialects: each turns its JSON into the IR, and IR answers back into its JSON and SSE."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .. import ir
from ..errors import GatewayError
from ..ir_json import request_from_json, response_to_json
from . import anthropic_messages, chat_shapes, custom, jsonrpc, openai_chat, openai_responses

__all__ = ["DIALECTS", "Dialect", "StreamEncoder", "error_encoder", "stream_error_encoder"]


class StreamEncoder(Protocol):
    def encode(self, event: ir.Event) -> bytes: ...

    def end(self) -> bytes: ...

    def error(self, error: GatewayError) -> bytes: ...


ErrorEncoder = Callable[[GatewayError], tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    decode_request: Callable[[dict[str, Any]], ir.Request]
    #: The answer in the dialect's JSON; the request tells how its tools were declared.
    encode_response: Callable[[ir.Response, ir.Request], dict[str, Any]]
    stream_encoder: Callable[[ir.Request], StreamEncoder]
    encode_error: ErrorEncoder


DIALECTS: Mapping[str, Dialect] = {
    openai_chat.NAME: Dialect(
        openai_chat.NAME,
        # Chat Completions, and the other shapes editors post to /chat/completions.
        chat_shapes.decode_request,
        openai_chat.encode_response,
        openai_chat.StreamEncoder,
        openai_chat.encode_error,
    ),
    anthropic_messages.NAME: Dialect(
        anthropic_messages.NAME,
        anthropic_messages.decode_request,
        anthropic_messages.encode_response,
        anthropic_messages.StreamEncoder,
        anthropic_messages.encode_error,
    ),
    openai_responses.NAME: Dialect(
        openai_responses.NAME,
        openai_responses.decode_request,
        openai_responses.encode_response,
        openai_responses.StreamEncoder,
        openai_chat.encode_error,
    ),
    # Custom routes: the IR's own JSON form, shaped by the route's transforms on either side.
    custom.NAME: Dialect(
        custom.NAME,
        request_from_json,
        lambda response, request: response_to_json(response),
        custom.StreamEncoder,
        openai_chat.encode_error,
    ),
}


def stream_error_encoder(endpoint: str) -> Callable[[GatewayError], bytes]:
    """The in-band error event for a relayed stream of ``endpoint``'s family, whose encoder
    the gateway never built (the bytes came from the upstream)."""
    if endpoint.startswith("anthropic."):
        return anthropic_messages.stream_error
    return openai_chat.stream_error


def error_encoder(endpoint: str | None, headers: Mapping[str, str]) -> ErrorEncoder:
    """The error shape a client expects: its route's dialect, else a guess from its headers."""
    if endpoint == "mcp":
        return jsonrpc.encode_error
    if endpoint is not None and endpoint.startswith("anthropic."):
        return anthropic_messages.encode_error
    if endpoint is not None and endpoint.startswith("openai."):
        return openai_chat.encode_error
    if "anthropic-version" in headers:
        return anthropic_messages.encode_error
    return openai_chat.encode_error
