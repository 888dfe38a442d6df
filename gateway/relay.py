"""Passthrough: bytes relayed to an upstream of the client's own dialect and back."""

from __future__ import annotations

import time
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from . import ir
from .deadline import Deadline
from .dialects import stream_error_encoder
from .errors import GatewayError, UpstreamTimeout
from .exchange import Exchange
from .routing import Route
from .sinks.base import Sink
from .streaming import send_stream_error
from .wire import anthropic as anthropic_wire
from .wire import openai as openai_wire
from .wire.json_codec import dumps, loads

__all__ = ["relay"]


async def relay(
    request: Request,
    sink: Sink,
    route: Route,
    exchange: Exchange,
    body: dict[str, Any],
    model: str,
    deadline: Deadline,
) -> HTTPResponse | None:
    """Relays bytes to an upstream of the client's own dialect; only the model may be renamed."""
    exchange.passthrough = True
    upstream_model = sink.upstream_model(model)
    raw = request.body
    if upstream_model != body["model"]:
        raw = dumps({**body, "model": upstream_model})
    try:
        async with deadline.scope():
            answer = await sink.forward(
                route.endpoint, "POST", request.query_string, request.headers, raw
            )
    except TimeoutError:
        raise UpstreamTimeout(f"The upstream '{sink.name}' did not answer in time") from None
    try:
        if not answer.streaming:
            exchange.usage = _usage_of(answer.body)
            if answer.status >= 400:
                exchange.error_type = _error_kind(answer.body)
            return HTTPResponse(answer.body, status=answer.status, headers=answer.headers)
        response = await request.respond(status=answer.status, headers=answer.headers)
        exchange.status, exchange.first_byte = answer.status, time.perf_counter()
        stream_error = stream_error_encoder(route.endpoint)
        usage = UsageSniffer()
        try:
            async with deadline.scope():
                async for chunk in answer.chunks():
                    await response.send(chunk)
                    usage.feed(chunk)
        except TimeoutError:
            error = UpstreamTimeout("The answer took too long")
            await send_stream_error(response, stream_error, exchange, error)
        except GatewayError as error:
            await send_stream_error(response, stream_error, exchange, error)
        finally:
            exchange.usage = usage.usage
        await response.eof()
        exchange.complete = True
        return None
    finally:
        answer.close()


def _error_kind(body: bytes) -> str:
    """The ``error.type`` of a relayed error answer (both APIs put one there), for the logs."""
    try:
        error = loads(body).get("error")
        kind = error.get("type") or error.get("code")
    except (ValueError, AttributeError):
        return "upstream_error"
    return kind if isinstance(kind, str) and kind else "upstream_error"


def _usage_of(body: bytes) -> ir.Usage | None:
    """Token usage from a relayed JSON answer, for the access log."""
    try:
        usage = loads(body).get("usage")
    except (ValueError, AttributeError):
        return None
    return _usage(usage)


def _usage(usage: Any, base: ir.Usage | None = None) -> ir.Usage | None:
    if not isinstance(usage, dict):
        return base
    if "prompt_tokens" in usage:
        return openai_wire.usage_to_ir(usage)
    return anthropic_wire.usage_to_ir(usage, base)


class UsageSniffer:
    """The usage reported in a relayed SSE stream, for the access log and metrics.

    A fast scan skips every chunk that does not mention ``"usage"``; only the ``data:`` lines
    that do (Anthropic's ``message_start`` and ``message_delta``, OpenAI's last chunk) are
    parsed. The bytes relayed are not touched.
    """

    _MAX_TAIL = 1 << 20

    def __init__(self) -> None:
        self._tail = b""  # the unfinished last line of the previous chunk
        self.usage: ir.Usage | None = None

    def feed(self, chunk: bytes) -> None:
        data = self._tail + chunk if self._tail else chunk
        if b'"usage"' not in data:
            self._tail = data[data.rfind(b"\n") + 1 :][-self._MAX_TAIL :]
            return
        *lines, tail = data.split(b"\n")
        self._tail = tail[-self._MAX_TAIL :]
        for line in lines:
            if line.startswith(b"data:") and b'"usage"' in line:
                self._read(line[5:])

    def _read(self, raw: bytes) -> None:
        try:
            data = loads(raw)
        except ValueError:
            return
        if isinstance(data, dict):
            found = data.get("usage") or (data.get("message") or {}).get("usage")
            self.usage = _usage(found, self.usage)
