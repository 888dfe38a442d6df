"""One completion, for HTTP and MCP alike: a body in, an answer opened and ready to send out.

:func:`complete` prepares the request (decode, transforms, model), checks that the caller may
use the model, and opens the answer: the sink's whole answer, a stream whose first events have
arrived, or an upstream's relayed answer whose status is known. Nothing has reached the client
yet when it returns, so everything that can fail before the first byte fails here, as an error
the client gets in its own dialect. Writing the answer is the caller's: HTTP sends it
(:func:`serve_completion`), MCP reads it whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from .. import ir
from ..config.routing import Target
from ..config.targets import RetryPolicy
from ..dialects import (
    ANTHROPIC,
    COUNT_TOKENS,
    DIALECTS,
    OPENAI,
    anthropic_messages,
    custom,
    openai_chat,
)
from ..errors import UpstreamError, UpstreamTimeout
from ..exchange import Exchange
from ..server.runtime import Runtime
from ..sinks.base import Sink
from ..wire.json_codec import dumps
from .answers import Answer, RelayedAnswer, StreamedAnswer, WholeAnswer, json_response
from .attempts import try_targets
from .body import read_json_body
from .deadline import Deadline
from .endpoints import Call, Endpoint
from .prepare import Prepared, for_target, prepare, refuse_model_not_allowed, transform_response
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
    request, exchange = call.request, call.exchange
    asked = Asked(read_json_body(request), request.headers, request.body, request.query_string)
    deadline = Deadline.after(call.runtime.config.limits.request_timeout)
    answer = await complete(call.runtime, call.route, asked, exchange, deadline)
    if isinstance(answer, WholeAnswer):
        answer.on_sent()  # the body is whole: its target has done its part
        return json_response(answer.body, headers=exchange.response_headers or None)
    if isinstance(answer, StreamedAnswer):
        return await send_stream(request, answer, exchange, deadline)
    return await send_relayed(request, answer, exchange, deadline)


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
    """The answer to ``asked`` on ``route``, opened by the first target of its model's plan
    that can (flow/attempts.py). ``whole``: a whole answer even when the body asks for a
    stream (an MCP tool call), its text shown to ``on_text`` as it comes."""
    prepared = await prepare(
        runtime, route, asked.body, asked.headers, exchange.id, exchange.key_name
    )
    plan = prepared.plan
    exchange.model = plan.requested
    refuse_model_not_allowed(exchange, plan.requested)
    request = prepared.request
    if request is None:
        exchange.stream = asked.body.get("stream") is True
    else:
        exchange.stream = request.stream and not whole
        request.caller, request.session_hint = exchange.caller, exchange.session_hint
    opening = _Opening(runtime, route, asked, prepared, exchange, deadline, plan.retry, on_text)
    health = runtime.services.targets
    return await try_targets(plan, runtime.sinks, health, exchange, deadline, opening.open)


class _Opening:
    """Opens the answer of one target: relayed, streamed or whole, as the target's sink and
    the request call for."""

    def __init__(
        self,
        runtime: Runtime,
        route: Route,
        asked: Asked,
        prepared: Prepared,
        exchange: Exchange,
        deadline: Deadline,
        retry: RetryPolicy,
        on_text: TextListener | None,
    ) -> None:
        self.runtime, self.route, self.asked, self.prepared = runtime, route, asked, prepared
        self.exchange, self.deadline, self.on_text = exchange, deadline, on_text
        self.first_byte_timeout = retry.first_byte_timeout_seconds
        self._target_headers: list[str] = []  # the answer headers that describe one target

    async def open(self, target: Target, sink: Sink) -> Answer:
        route, asked, prepared, exchange = self.route, self.asked, self.prepared, self.exchange
        name = route.endpoint.name
        exchange.sink, exchange.target_model = sink.name, target.model
        for header in self._target_headers:  # an earlier target's, which did not answer
            exchange.response_headers.pop(header, None)
        self._target_headers.clear()
        if prepared.passes_through(sink, name, asked.body):
            exchange.passthrough = True
            return await self._relay(sink, target.model)
        exchange.passthrough = False
        request, dropped = for_target(prepared, sink, route, target.model)
        if dropped:
            self._describe_target({"x-gateway-dropped-tools": ", ".join(dropped)})
        if name == COUNT_TOKENS:
            async with self._waiting_on(sink, whole=True):
                return WholeAnswer({"input_tokens": await sink.count_tokens(request)})
        if exchange.stream:
            answer: Answer = await self._stream(sink, request)
        else:
            answer = await self._whole(sink, request)
        quota = sink.quota
        if quota is not None:
            exchange.subscription = quota.summary()
            if route.endpoint.family == ANTHROPIC:
                # Claude Code's own limit warnings read these (they are the sink's latest).
                self._describe_target(quota.headers())
        return answer

    def _describe_target(self, headers: dict[str, str]) -> None:
        self.exchange.response_headers.update(headers)
        self._target_headers += headers

    async def _whole(self, sink: Sink, request: ir.Request) -> WholeAnswer:
        exchange = self.exchange
        async with self._waiting_on(sink, whole=True):
            if self.on_text is None:
                response = await sink.complete(request)
            else:
                response = await _followed(sink.stream(request), self.on_text)
        exchange.usage, exchange.cost_usd = response.usage, response.cost_usd
        exchange.response_model, exchange.finish_reason = response.model, response.stop_reason
        body = await _answer_body(self.runtime, self.route, request, exchange, self.asked, response)
        return WholeAnswer(body)

    async def _stream(self, sink: Sink, request: ir.Request) -> StreamedAnswer:
        """The sink's stream, once its first events are in: the status is decided by them."""
        dialect = self.prepared.dialect
        assert dialect is not None
        batches = sink.stream_batches(request)
        try:
            async with self._waiting_on(sink, whole=False):
                first = await anext(batches)
        except StopAsyncIteration:
            await batches.aclose()
            raise UpstreamError(f"The sink '{sink.name}' ended without an answer") from None
        except BaseException:
            await batches.aclose()
            raise
        return StreamedAnswer(sink, first, batches, dialect.stream_encoder(request))

    async def _relay(self, sink: Sink, model: str) -> RelayedAnswer:
        """Bytes to an upstream of the client's own dialect; only the model may be renamed, and
        an OpenAI chat stream asked to report its usage (see ``relay.UsageSniffer``)."""
        asked, name = self.asked, self.route.endpoint.name
        changes = sink.relayed_fields(name, asked.body, model)
        raw = dumps({**asked.body, **changes}) if changes or asked.raw is None else asked.raw
        async with self._waiting_on(sink, whole=False):
            answer = await sink.forward(name, "POST", asked.query, asked.headers, raw)
        anthropic = self.route.endpoint.family == ANTHROPIC
        return RelayedAnswer(sink, answer, "stream_options" in changes, anthropic)

    def _waiting_on(self, sink: Sink, *, whole: bool) -> _WaitingOn:
        return _WaitingOn(sink, self.deadline, self.first_byte_timeout, whole)


class _WaitingOn:
    """The request's deadline, or the plan's first-byte timeout if it comes first, around a
    call to a sink; its end is a 504 naming the sink (a timeout routing may move on for).
    A class, not a generator-based context manager: it is on every request's path."""

    __slots__ = ("_at", "_deadline", "_first_byte", "_scope", "_sink", "_whole")

    def __init__(
        self, sink: Sink, deadline: Deadline, first_byte: float | None, whole: bool
    ) -> None:
        self._sink, self._deadline, self._first_byte, self._whole = (
            sink,
            deadline,
            first_byte,
            whole,
        )
        at = deadline.at
        if first_byte is not None:
            at = min(at, asyncio.get_running_loop().time() + first_byte)
        self._at = at
        self._scope = asyncio.timeout_at(at)

    async def __aenter__(self) -> None:
        await self._scope.__aenter__()

    async def __aexit__(self, kind: Any, error: Any, trace: Any) -> bool:
        try:
            await self._scope.__aexit__(kind, error, trace)
        except TimeoutError:
            if self._at < self._deadline.at:
                what = "its whole answer" if self._whole else "its first byte"
                raise UpstreamTimeout(
                    f"The sink '{self._sink.name}' did not send {what} within "
                    f"{self._first_byte:g} s (routing.retry.first_byte_timeout_seconds)"
                ) from None
            raise UpstreamTimeout(
                f"The sink '{self._sink.name}' did not answer within {self._deadline.seconds:g} s"
            ) from None
        return False


async def _answer_body(
    runtime: Runtime,
    route: Route,
    request: ir.Request,
    exchange: Exchange,
    asked: Asked,
    response: ir.Response,
) -> Any:
    dialect = route.endpoint.dialect
    assert dialect is not None
    if route.config is None or not route.config.response_transforms:
        return dialect.encode_response(response, request)
    answer = await transform_response(
        runtime, route, exchange.id, asked.headers, exchange.model, request, response
    )
    if route.endpoint.name == "custom":
        return answer
    return dialect.encode_response(answer, request)


async def _followed(events: AsyncIterator[ir.Event], on_text: TextListener) -> ir.Response:
    builder = ir.ResponseBuilder()
    async with aclosing(events) as stream:  # type: ignore[type-var]
        async for event in stream:
            builder.add(event)
            if isinstance(event, ir.TextDelta) and event.text:
                await on_text(event.text)
    return builder.build()


def completion_endpoints() -> list[Endpoint]:
    """The endpoints of the standard APIs (but Responses, whose state responses.py keeps), and
    the custom routes of routes.yaml."""
    standard = dict(calls_sink=True, mountable=True)
    return [
        Endpoint(openai_chat.NAME, serve_completion, family=OPENAI,
                 dialect=DIALECTS[openai_chat.NAME], **standard),
        Endpoint(anthropic_messages.NAME, serve_completion, family=ANTHROPIC,
                 dialect=DIALECTS[anthropic_messages.NAME], **standard),
        Endpoint(COUNT_TOKENS, serve_completion, family=ANTHROPIC, **standard),
        Endpoint(custom.NAME, serve_completion, calls_sink=True, dialect=DIALECTS[custom.NAME]),
    ]  # fmt: skip
