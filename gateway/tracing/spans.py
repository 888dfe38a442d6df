"""The spans of one finished request, after the OpenTelemetry GenAI semantic conventions:

    chat opus                      SERVER  the request, from its arrival to its answer's end
    ├── chat claude-opus-5-5       CLIENT  a try of a target that failed (error.type: overloaded)
    └── chat claude-opus-5-5       CLIENT  the try that answered, to the answer's end; its event
                                           ``gen_ai.first_token`` is when the first byte went out

Built once the request has ended, from the Exchange's own times (``time.perf_counter``, turned
into wall-clock nanoseconds here), so nothing of it runs while the request is served. A client's
W3C ``traceparent`` makes the request a child of the client's span. Never content: the
Exchange holds none.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import propagate
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    get_current_span,
)

from .. import __version__
from ..exchange import Exchange
from .settings import TracingSettings

__all__ = ["SpanRecorder"]

#: Claude Code sends it on every request so that a proxy can group a session's requests.
SESSION_HEADER = "x-claude-code-session-id"
_COMPLETIONS = {"anthropic.messages", "openai.chat", "openai.responses", "custom"}


_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
#: More attributes than a span of ours has (about 25): limits above it never cut anything.
_ATTRIBUTES_AT_MOST = 40


class SpanRecorder:
    """Builds a finished request's spans as finished spans and hands them to the batch
    processor: the spans of a request that has ended need none of the SDK's live-span
    machinery (locks, attribute checks, context), which cost 116 us of the event loop's CPU
    a request with two spans, against 34 us this way (docs/usage.md#traces). The provider is
    kept for what it reads from the environment: the sampler (OTEL_TRACES_SAMPLER), the id
    generator and the resource."""

    def __init__(self, settings: TracingSettings) -> None:
        resource = Resource.create(
            {"service.name": settings.service_name, "service.version": __version__}
        )
        # Closed with the recorder (a reload may replace it), not left to an exit handler.
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        # The OTEL_*_LIMIT variables, as a live span would apply them; the defaults cut nothing.
        self.limits = SpanLimits()
        self._limited = (
            self.limits.max_span_attributes < _ATTRIBUTES_AT_MOST
            or self.limits.max_span_attribute_length is not None
            or self.limits.max_events < 1
        )
        # With no endpoint given, the exporter reads the OTEL_EXPORTER_OTLP_* variables (the
        # endpoint, headers, timeout, compression, certificates) as every OTel SDK does.
        exporter = (
            OTLPSpanExporter(endpoint=settings.endpoint)
            if settings.endpoint
            else (OTLPSpanExporter())
        )
        self.processor = BatchSpanProcessor(exporter)
        self.scope = InstrumentationScope("claude-gateway", __version__)

    def record(self, exchange: Exchange) -> None:
        if exchange.finished is None:
            return
        # perf_counter seconds -> Unix nanoseconds, by the two clocks read now.
        offset = time.time_ns() - time.perf_counter_ns()

        def at(moment: float) -> int:
            return int(moment * 1e9) + offset

        operation = _operation(exchange)
        name = f"{operation} {exchange.model}" if operation else _http_name(exchange)
        attributes = _request_attributes(exchange, operation)
        client = propagate.extract(exchange.headers)  # a client's traceparent, if it sent one
        parent = get_current_span(client).get_span_context()
        ids = self.provider.id_generator
        trace_id = parent.trace_id if parent.is_valid else ids.generate_trace_id()
        # The sampler decides for the request; its tries follow it, as a parent-based one does.
        sampling = self.provider.sampler.should_sample(
            client if parent.is_valid else None, trace_id, name, SpanKind.SERVER, attributes
        )
        if not sampling.decision.is_sampled():
            return
        attributes.update(sampling.attributes or {})
        root = SpanContext(trace_id, ids.generate_span_id(), False, _SAMPLED, sampling.trace_state)
        first_token = (
            (Event("gen_ai.first_token", timestamp=at(exchange.first_byte)),)
            if exchange.first_byte is not None
            else ()
        )
        failed = _failure(exchange)
        last = len(exchange.attempts) - 1
        for index, attempt in enumerate(exchange.attempts):
            answered = index == last and attempt.error is None
            error = attempt.error or (failed if answered else None)
            # The try that answered lasts until the answer's end, not its opening.
            ended = exchange.finished if answered else (attempt.ended or exchange.finished)
            self.processor.on_end(self._span(
                f"{operation or 'call'} {attempt.model}",
                SpanContext(trace_id, ids.generate_span_id(), False, _SAMPLED, root.trace_state),
                root, SpanKind.CLIENT, _attempt_attributes(exchange, attempt, index, operation),
                first_token if answered else (), error, at(attempt.started), at(ended),
            ))  # fmt: skip
        self.processor.on_end(self._span(
            name, root, parent if parent.is_valid else None, SpanKind.SERVER, attributes,
            first_token, failed, at(exchange.started), at(exchange.finished),
        ))  # fmt: skip

    def _span(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        events: tuple[Event, ...],
        error: str | None,
        start: int,
        end: int,
    ) -> ReadableSpan:
        status = Status(StatusCode.ERROR, error) if error else Status(StatusCode.UNSET)
        if self._limited:
            most, longest = self.limits.max_span_attributes, self.limits.max_span_attribute_length
            attributes = BoundedAttributes(most, attributes, max_value_len=longest)  # type: ignore[assignment]
            events = events[: self.limits.max_events]
        return ReadableSpan(
            name, context, parent, self.provider.resource, attributes, events, (), kind,
            status=status, start_time=start, end_time=end, instrumentation_scope=self.scope,
        )  # fmt: skip

    def close(self) -> None:
        self.processor.shutdown()
        self.provider.shutdown()


def _operation(exchange: Exchange) -> str | None:
    if exchange.model is None:
        return None
    return "chat" if exchange.endpoint in _COMPLETIONS else (exchange.endpoint or "chat")


def _http_name(exchange: Exchange) -> str:
    return f"{exchange.method} {exchange.route or exchange.path}"


def _failure(exchange: Exchange) -> str | None:
    if exchange.error_type is not None:
        return exchange.error_type
    status = exchange.status or 0
    return f"http_{status}" if status >= 500 or status == 499 else None


def _request_attributes(exchange: Exchange, operation: str | None) -> dict[str, Any]:
    headers = exchange.headers
    session = headers.get(SESSION_HEADER)
    attributes: dict[str, Any] = {
        "http.request.method": exchange.method,
        "url.path": exchange.path,
        "http.response.status_code": exchange.status or 0,
        "gateway.request_id": exchange.id,
        # A session: Claude Code's, else the key's own requests.
        "session.id": session or exchange.key_name,
    }
    if exchange.route:
        attributes["http.route"] = exchange.route
    if operation:
        attributes |= {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": exchange.model,
            "gen_ai.request.stream": exchange.stream,
            "gen_ai.response.model": exchange.response_model,
            "gen_ai.conversation.id": session,
        }
    usage = exchange.usage
    if usage is not None:
        attributes |= {
            # Every input token, cached ones included, as the conventions count them.
            "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cache_read_input_tokens,
            "gen_ai.usage.cache_creation.input_tokens": usage.cache_creation_input_tokens,
        }
    if exchange.finish_reason:
        attributes["gen_ai.response.finish_reasons"] = [exchange.finish_reason]
    if exchange.first_byte is not None:
        attributes["gen_ai.response.time_to_first_chunk"] = exchange.first_byte - exchange.started
    failed = _failure(exchange)
    more = {
        "error.type": failed,
        "gateway.key": exchange.key_name,
        "gateway.target": exchange.target,
        "gateway.sink": exchange.sink,
        "gateway.attempts": len(exchange.attempts) or None,
        "gateway.cost_usd": exchange.cost_usd,
    }
    attributes |= more
    return {k: v for k, v in attributes.items() if v is not None}


def _attempt_attributes(
    exchange: Exchange, attempt: Any, index: int, operation: str | None
) -> dict[str, Any]:
    attributes = {
        "gen_ai.operation.name": operation or "call",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": attempt.model,
        "gateway.sink": attempt.sink,
        "gateway.attempt": index + 1,
        "error.type": attempt.error,
    }
    return {k: v for k, v in attributes.items() if v is not None}
