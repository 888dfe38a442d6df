"""Traces: OpenTelemetry spans with the GenAI semantic conventions, sent over OTLP/HTTP when an
endpoint is configured (docs/usage.md#traces).

    settings.py   on or off, from routes.yaml's ``tracing:`` and the OTEL_ variables (no import
                  of OpenTelemetry: off costs nothing)
    service.py    the app's service: opens the exporter when on, records each finished request
    spans.py      the spans of one finished request, built from its Exchange afterwards: the
                  request, a child per sink attempt, the first token; imported only when on

Spans are built when the request has ended, from the times the Exchange already holds, so the
request path does no tracing work at all; the batch processor exports from a thread of its own.
"""
