"""Client dialects: each turns its JSON into the IR, and IR answers back into its JSON and SSE."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .. import ir
from ..errors import GatewayError
from ..ir_json import request_from_json, response_to_json
from . import (
    anthropic_messages,
    chat_shapes,
    custom,
    jsonrpc,
    openai_chat,
    openai_chat_out,
    openai_responses,
)

__all__ = [
    "ANTHROPIC",
    "COUNT_TOKENS",
    "DIALECTS",
    "JSONRPC",
    "OPENAI",
    "Dialect",
    "StreamEncoder",
    "error_encoder",
    "error_family",
    "stream_error_encoder",
]


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
        openai_chat_out.encode_response,
        openai_chat_out.StreamEncoder,
        openai_chat_out.encode_error,
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
        openai_chat_out.encode_error,
    ),
    # Custom routes: the IR's own JSON form, shaped by the route's transforms on either side.
    custom.NAME: Dialect(
        custom.NAME,
        request_from_json,
        lambda response, request: response_to_json(response),
        custom.StreamEncoder,
        openai_chat_out.encode_error,
    ),
}


#: Error families: the API whose error shapes (and rate-limit headers) a client reads.
ANTHROPIC, OPENAI, JSONRPC = "anthropic", "openai", "jsonrpc"
COUNT_TOKENS = "anthropic.count_tokens"
_ERROR_ENCODERS: Mapping[str, ErrorEncoder] = {
    ANTHROPIC: anthropic_messages.encode_error,
    OPENAI: openai_chat_out.encode_error,
    JSONRPC: jsonrpc.encode_error,
}


def error_family(family: str | None, headers: Mapping[str, str]) -> str:
    """An endpoint's error family, or (None: an endpoint any client may call, or no route) a
    guess from the client's headers."""
    if family is not None:
        return family
    return ANTHROPIC if "anthropic-version" in headers else OPENAI


def error_encoder(family: str | None, headers: Mapping[str, str]) -> ErrorEncoder:
    """The error shape a client expects: its endpoint's family, else a guess from its headers."""
    return _ERROR_ENCODERS[error_family(family, headers)]


def stream_error_encoder(anthropic: bool) -> Callable[[GatewayError], bytes]:
    """The in-band error event for a relayed stream, whose encoder the gateway never built
    (the bytes came from the upstream)."""
    return anthropic_messages.stream_error if anthropic else openai_chat_out.stream_error
