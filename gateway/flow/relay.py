"""Passthrough: an upstream's answer to relayed bytes, sent on to the client untouched."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from .. import ir
from ..dialects import stream_error_encoder
from ..errors import GatewayError, UpstreamTimeout
from ..exchange import Exchange
from ..wire import anthropic as anthropic_wire
from ..wire import openai as openai_wire
from ..wire.json_codec import loads
from .answers import RelayedAnswer
from .deadline import Deadline
from .relay_check import MALFORMED, StreamShape
from .stream import send_stream_error

__all__ = ["UsageSniffer", "send_relayed"]

log = logging.getLogger("gateway")


async def send_relayed(
    request: Request, relayed: RelayedAnswer, exchange: Exchange, deadline: Deadline
) -> HTTPResponse | None:
    """Sends an upstream's relayed answer on as it came: whole, or streamed chunk by chunk."""
    answer = relayed.answer
    headers = {**answer.headers, **exchange.response_headers}
    try:
        if not answer.streaming:
            body = _json_object(answer.body)
            exchange.usage = _usage(body.get("usage")) if body is not None else None
            if body is not None:
                exchange.response_model, exchange.finish_reason = _model_and_end(body)
            if answer.status >= 400:
                exchange.error_type = _error_kind(body)
            elif body is None:
                _malformed(exchange, relayed, "its body is not a JSON object")
            return HTTPResponse(answer.body, status=answer.status, headers=headers)
        response = await request.respond(status=answer.status, headers=headers)
        exchange.status, exchange.first_byte = answer.status, time.perf_counter()
        stream_error = stream_error_encoder(relayed.anthropic)
        shape = StreamShape(anthropic=relayed.anthropic) if answer.status < 400 else None
        usage = UsageSniffer(strip_usage_chunk=relayed.strip_usage, shape=shape)
        try:
            async with deadline.scope():
                async for chunk in answer.chunks():
                    sent = usage.feed(chunk)
                    if sent:
                        await response.send(sent)
                unfinished = usage.unfinished
                if rest := usage.rest():
                    await response.send(rest)
            if shape is not None and (problem := shape.verdict(unfinished)):
                _malformed(exchange, relayed, problem)
        except TimeoutError:
            error = UpstreamTimeout("The answer took too long")
            await send_stream_error(response, stream_error, exchange, error)
        except GatewayError as error:
            await send_stream_error(response, stream_error, exchange, error)
        finally:
            exchange.usage = usage.usage
            exchange.response_model, exchange.finish_reason = usage.model, usage.finish_reason
        await response.eof()
        exchange.complete = True
        return None
    finally:
        answer.close()
        relayed.on_sent()


def _malformed(exchange: Exchange, relayed: RelayedAnswer, problem: str) -> None:
    """Names a malformed upstream answer that was relayed as it came (relay_check.py)."""
    if exchange.error_type is None:
        exchange.error_type = MALFORMED
    log.warning("request %s: the upstream of sink '%s' answered %s with a malformed answer, "
                "relayed as it came: %s", exchange.id, relayed.sink.name, relayed.answer.status,
                problem)  # fmt: skip


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _error_kind(body: dict[str, Any] | None) -> str:
    """The ``error.type`` of a relayed error answer (both APIs put one there), for the logs."""
    error = (body or {}).get("error")
    kind = (error.get("type") or error.get("code")) if isinstance(error, dict) else None
    return kind if isinstance(kind, str) and kind else "upstream_error"


def _model_and_end(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The model an upstream's answer names, and why it ended (either API's way)."""
    model = body.get("model")
    end = body.get("stop_reason")
    choices = body.get("choices")
    if end is None and isinstance(choices, list) and choices and isinstance(choices[0], dict):
        end = choices[0].get("finish_reason")
    return (model if isinstance(model, str) else None, end if isinstance(end, str) else None)


def _usage(usage: Any, base: ir.Usage | None = None) -> ir.Usage | None:
    if not isinstance(usage, dict):
        return base
    if "prompt_tokens" in usage:
        return openai_wire.usage_to_ir(usage)
    return anthropic_wire.usage_to_ir(usage, base)


class UsageSniffer:
    """The usage reported in a relayed SSE stream, for the access log, metrics, ledger and a
    key's token limits.

    A fast scan skips every chunk that holds no ``"usage": {...}`` object; only the ``data:``
    lines that do (Anthropic's ``message_start`` and ``message_delta``, OpenAI's usage chunk)
    are parsed. :meth:`feed` returns what to relay of a chunk: the chunk itself, untouched,
    unless the gateway asked the upstream for a usage chunk the client did not ask for
    (``strip_usage_chunk``); then whole lines go on, the usage chunk's excepted, and a line's
    start waits for its end (:meth:`rest` at the stream's end).
    """

    _MAX_TAIL = 1 << 20

    def __init__(
        self, *, strip_usage_chunk: bool = False, shape: StreamShape | None = None
    ) -> None:
        self._tail = b""  # the unfinished last line of the previous chunk
        self._strip = strip_usage_chunk
        self._dropped = False  # the usage chunk's line was just left out
        self._shape = shape  # also shown every whole line, to judge the stream's shape
        self.usage: ir.Usage | None = None
        #: The model and stop reason the lines that carry usage named (Anthropic's message_start
        #: and message_delta, OpenAI's usage chunk: there, no finish reason).
        self.model: str | None = None
        self.finish_reason: str | None = None

    @property
    def unfinished(self) -> bytes:
        """What followed the last newline so far (at the stream's end: a line cut short)."""
        return self._tail

    def feed(self, chunk: bytes) -> bytes:
        data = self._tail + chunk if self._tail else chunk
        end = data.rfind(b"\n") + 1
        if self._shape is not None:
            self._shape.see(data, end)
        if not self._strip:  # on the relay's hot path: no copy of the chunk but its tail
            self._tail = data[end:][-self._MAX_TAIL :]  # kept to be read, not to be sent
            if b'"usage"' in data and _USAGE_OBJECT.search(data):
                for line in data[:end].split(b"\n"):
                    if line.startswith(b"data:") and _USAGE_OBJECT.search(line):
                        self._read(line[5:])
            return chunk
        whole, tail = data[:end], data[end:]
        if len(tail) >= self._MAX_TAIL:  # no line this long is a usage chunk: send it on
            whole, tail = data, b""
        self._tail = tail
        if not self._dropped and not _USAGE_OBJECT.search(whole):
            return whole
        kept = []
        for line in whole.splitlines(keepends=True):
            if self._dropped:
                self._dropped = False
                if not line.strip():  # the blank line that ended the dropped event
                    continue
            if line.startswith(b"data:") and _USAGE_OBJECT.search(line):
                event = self._read(line[5:])
                if isinstance(event, dict) and event.get("choices") == []:
                    self._dropped = True
                    continue
            kept.append(line)
        return b"".join(kept)

    def rest(self) -> bytes:
        """What is held back at the stream's end (an unfinished last line), when stripping."""
        rest, self._tail = (self._tail, b"") if self._strip else (b"", self._tail)
        return rest

    def _read(self, raw: bytes) -> Any:
        try:
            data = loads(raw)
        except ValueError:
            return None
        if isinstance(data, dict):
            message = data.get("message")
            found = data.get("usage") or (message or {}).get("usage")
            self.usage = _usage(found, self.usage)
            model, end = _model_and_end(message if isinstance(message, dict) else data)
            self.model = model or self.model
            delta = data.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                end = delta["stop_reason"]
            self.finish_reason = end or self.finish_reason
        return data


# A usage object, not OpenAI's "usage": null of every chunk of a stream that reports usage.
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')
