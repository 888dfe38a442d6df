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
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from .. import __version__
from ..exchange import Exchange
from .settings import TracingSettings

__all__ = ["SpanRecorder"]

#: Claude Code sends it on every request so that a proxy can group a session's requests.
SESSION_HEADER = "x-claude-code-session-id"
_COMPLETIONS = {"anthropic.messages", "openai.chat", "openai.responses", "custom"}


class SpanRecorder:
    def __init__(self, settings: TracingSettings) -> None:
        resource = Resource.create(
            {"service.name": settings.service_name, "service.version": __version__}
        )
        self.provider = TracerProvider(resource=resource)
        # With no endpoint given, the exporter reads the OTEL_EXPORTER_OTLP_* variables (the
        # endpoint, headers, timeout, compression, certificates) as every OTel SDK does.
        exporter = (
            OTLPSpanExporter(endpoint=settings.endpoint)
            if settings.endpoint
            else (OTLPSpanExporter())
        )
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("claude-gateway", __version__)

    def record(self, exchange: Exchange) -> None:
        if exchange.finished is None:
            return
        # perf_counter seconds -> Unix nanoseconds, by the two clocks read now.
        offset = time.time_ns() - time.perf_counter_ns()

        def at(moment: float) -> int:
            return int(moment * 1e9) + offset

        operation = _operation(exchange)
        name = f"{operation} {exchange.model}" if operation else _http_name(exchange)
        parent = propagate.extract(exchange.headers)
        root = self.tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            start_time=at(exchange.started),
            attributes=_request_attributes(exchange, operation),
        )
        if exchange.first_byte is not None:
            root.add_event("gen_ai.first_token", timestamp=at(exchange.first_byte))
        failed = _failure(exchange)
        if failed:
            root.set_status(Status(StatusCode.ERROR, failed))
        inside = set_span_in_context(root)
        last = len(exchange.attempts) - 1
        for index, attempt in enumerate(exchange.attempts):
            answered = index == last and attempt.error is None
            span = self.tracer.start_span(
                f"{operation or 'call'} {attempt.model}",
                context=inside,
                kind=SpanKind.CLIENT,
                start_time=at(attempt.started),
                attributes=_attempt_attributes(exchange, attempt, index, operation),
            )
            if attempt.error is not None:
                span.set_status(Status(StatusCode.ERROR, attempt.error))
            elif answered and failed:
                span.set_status(Status(StatusCode.ERROR, failed))
            if answered and exchange.first_byte is not None:
                span.add_event("gen_ai.first_token", timestamp=at(exchange.first_byte))
            # The try that answered lasts until the answer's end, not its opening.
            ended = exchange.finished if answered else (attempt.ended or exchange.finished)
            span.end(end_time=at(ended))
        root.end(end_time=at(exchange.finished))

    def close(self) -> None:
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
