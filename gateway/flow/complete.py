"""One completion, for HTTP and MCP alike: a body in, an answer opened and ready to send out.

:func:`complete` prepares the request (decode, transforms, model), checks that the caller may
use the model, and opens the answer: the sink's whole answer, a stream whose first events have
arrived, or an upstream's relayed answer whose status is known. Nothing has reached the client
yet when it returns, so everything that can fail before the first byte fails here, as an error
the client gets in its own dialect. Writing the answer is the caller's: HTTP sends it
(:func:`serve_completion`), MCP reads it whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from .. import ir
from ..dialects import (
    ANTHROPIC,
    COUNT_TOKENS,
    DIALECTS,
    OPENAI,
    anthropic_messages,
    custom,
    openai_chat,
    openai_responses,
)
from ..errors import UpstreamError, UpstreamTimeout
from ..exchange import Exchange
from ..server.runtime import Runtime
from ..sinks.base import Sink
from ..wire.json_codec import dumps
from .answers import Answer, RelayedAnswer, StreamedAnswer, WholeAnswer, json_response
from .body import read_json_body
from .deadline import Deadline
from .endpoints import Call, Endpoint
from .prepare import Prepared, prepare, refuse_model_not_allowed, transform_response
from .relay import send_relayed
from .routes import Route
from .stream import send_stream

__all__ = ["Asked", "complete", "completion_endpoints", "serve_completion"]

TextListener = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class Asked:
    """What the client sent: the body decoded, and as it came (a passthrough relays it)."""

    body: dict[str, Any]
    headers: Mapping[str, str]
    raw: bytes | None = None
    query: str = ""


async def serve_completion(call: Call) -> Any:
    """A completion endpoint over HTTP: the answer is sent as soon as it is open."""
    request = call.request
    asked = Asked(read_json_body(request), request.headers, request.body, request.query_string)
    deadline = Deadline.after(call.runtime.config.limits.request_timeout)
    answer = await complete(call.runtime, call.route, asked, call.exchange, deadline)
    if isinstance(answer, WholeAnswer):
        return json_response(answer.body, headers=answer.headers or None)
    if isinstance(answer, StreamedAnswer):
        return await send_stream(request, answer, call.exchange, deadline)
    return await send_relayed(request, answer, call.exchange, deadline)


async def complete(
    runtime: Runtime,
    route: Route,
    asked: Asked,
    exchange: Exchange,
    deadline: Deadline,
    *,
    whole: bool = False,
    on_text: TextListener | None = None,
) -> Answer:
    """The answer to ``asked`` on ``route``, opened. ``whole``: a whole answer even when the
    body asks for a stream (an MCP tool call), its text shown to ``on_text`` as it comes."""
    prepared = await prepare(runtime, route, asked.body, asked.headers, exchange.id)
    target, sink = prepared.target, prepared.sink
    exchange.model, exchange.target_model, exchange.sink = target.requested, target.model, sink.name
    refuse_model_not_allowed(exchange, target.requested)
    if prepared.dropped_tools:
        exchange.response_headers["x-gateway-dropped-tools"] = ", ".join(prepared.dropped_tools)
    if prepared.request is None:
        exchange.stream = asked.body.get("stream") is True
        return await _open_relay(route, asked, prepared, exchange, deadline)
    request = prepared.request
    if route.endpoint.name == COUNT_TOKENS:
        async with _waiting_on(sink, deadline):
            return WholeAnswer({"input_tokens": await sink.count_tokens(request)})
    exchange.stream = request.stream and not whole
    if exchange.stream:
        return await _open_stream(prepared, exchange, deadline)
    async with _waiting_on(sink, deadline):
        if on_text is None:
            response = await sink.complete(request)
        else:
            response = await _followed(sink.stream(request), on_text)
    exchange.usage, exchange.cost_usd = response.usage, response.cost_usd
    return WholeAnswer(await _answer_body(runtime, route, prepared, exchange, asked, response),
                       dict(exchange.response_headers))  # fmt: skip


async def _answer_body(
    runtime: Runtime,
    route: Route,
    prepared: Prepared,
    exchange: Exchange,
    asked: Asked,
    response: ir.Response,
) -> Any:
    request, dialect = prepared.request, route.endpoint.dialect
    assert request is not None and dialect is not None
    if route.config is None or not route.config.response_transforms:
        return dialect.encode_response(response, request)
    answer = await transform_response(
        runtime, route, exchange.id, asked.headers, exchange.model, request, response
    )
    if route.endpoint.name == "custom":
        return answer
    return dialect.encode_response(answer, request)


async def _open_stream(
    prepared: Prepared, exchange: Exchange, deadline: Deadline
) -> StreamedAnswer:
    """The sink's stream, once its first events are in: the status is decided by them."""
    sink, request, dialect = prepared.sink, prepared.request, prepared.dialect
    assert request is not None and dialect is not None
    batches = sink.stream_batches(request)
    try:
        async with deadline.scope():
            first = await anext(batches)
    except StopAsyncIteration:
        await batches.aclose()
        raise UpstreamError(f"The sink '{sink.name}' ended without an answer") from None
    except TimeoutError:
        await batches.aclose()
        raise UpstreamTimeout(f"The sink '{sink.name}' did not start answering in time") from None
    except BaseException:
        await batches.aclose()
        raise
    encoder = dialect.stream_encoder(request)
    return StreamedAnswer(sink, first, batches, encoder, dict(exchange.response_headers))


async def _open_relay(
    route: Route, asked: Asked, prepared: Prepared, exchange: Exchange, deadline: Deadline
) -> RelayedAnswer:
    """Bytes to an upstream of the client's own dialect; only the model may be renamed, and an
    OpenAI chat stream asked to report its usage (see ``relay.UsageSniffer``)."""
    exchange.passthrough = True
    sink, name = prepared.sink, route.endpoint.name
    changes = sink.relayed_fields(name, asked.body, prepared.target.model)
    raw = dumps({**asked.body, **changes}) if changes or asked.raw is None else asked.raw
    try:
        async with deadline.scope():
            answer = await sink.forward(name, "POST", asked.query, asked.headers, raw)
    except TimeoutError:
        raise UpstreamTimeout(f"The upstream '{sink.name}' did not answer in time") from None
    anthropic = route.endpoint.family == ANTHROPIC
    return RelayedAnswer(sink, answer, "stream_options" in changes, anthropic)


class _waiting_on:
    """The request's deadline around a call to a sink; its end is a 504 naming the sink."""

    __slots__ = ("_deadline", "_scope", "_sink")

    def __init__(self, sink: Sink, deadline: Deadline) -> None:
        self._sink, self._deadline = sink, deadline
        self._scope = deadline.scope()

    async def __aenter__(self) -> None:
        await self._scope.__aenter__()

    async def __aexit__(self, kind: Any, error: Any, trace: Any) -> bool:
        try:
            await self._scope.__aexit__(kind, error, trace)
        except TimeoutError:
            raise UpstreamTimeout(
                f"The sink '{self._sink.name}' did not answer within {self._deadline.seconds:g} s"
            ) from None
        return False


async def _followed(events: AsyncIterator[ir.Event], on_text: TextListener) -> ir.Response:
    builder = ir.ResponseBuilder()
    async with aclosing(events) as stream:  # type: ignore[type-var]
        async for event in stream:
            builder.add(event)
            if isinstance(event, ir.TextDelta) and event.text:
                await on_text(event.text)
    return builder.build()


def completion_endpoints() -> list[Endpoint]:
    """The endpoints of the standard APIs, and the custom routes of routes.yaml."""
    standard = dict(calls_sink=True, mountable=True)
    return [
        Endpoint(openai_chat.NAME, serve_completion, family=OPENAI,
                 dialect=DIALECTS[openai_chat.NAME], **standard),
        Endpoint(openai_responses.NAME, serve_completion, family=OPENAI,
                 dialect=DIALECTS[openai_responses.NAME], **standard),
        Endpoint(anthropic_messages.NAME, serve_completion, family=ANTHROPIC,
                 dialect=DIALECTS[anthropic_messages.NAME], **standard),
        Endpoint(COUNT_TOKENS, serve_completion, family=ANTHROPIC, **standard),
        Endpoint(custom.NAME, serve_completion, calls_sink=True, dialect=DIALECTS[custom.NAME]),
    ]  # fmt: skip
