"""Traces received by a real OTLP/HTTP receiver started here (its bodies decoded with the
OpenTelemetry protobuf definitions): the span tree of a request that one target failed and
another answered, its GenAI attributes, the client's trace as its parent; and nothing of the
tracing SDK imported when tracing is off."""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import anthropic
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from waiting import wait_until

from gateway.teams.keys import hash_key, new_key

KEY = new_key()
ROUTES = """
version: 1
sinks:
  dead: {{kind: http, base_url: "http://127.0.0.1:{dead}", dialect: anthropic.messages}}
  up: {{kind: http, base_url: "{upstream}", dialect: anthropic.messages}}
models:
  - name: opus
    targets:
      - {{sink: dead, model: claude-opus-5-5}}
      - {{sink: up, model: claude-opus-5-5}}
routing:
  retry: {{attempts: 1}}
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
auth:
  keys:
    - {{name: alice, hash: "{hash}"}}
access_log:
  enabled: false
"""
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP traces endpoint: POST /v1/traces, protobuf bodies (gzip or not)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        receiver.spans.extend(scope.spans)
                receiver.paths.append(self.path)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _attributes(span: Span) -> dict:
    found = {}
    for item in span.attributes:
        value = item.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            found[item.key] = [v.string_value for v in value.array_value.values]
        else:
            found[item.key] = getattr(value, kind)
    return found


def test_a_request_is_a_span_tree_with_the_genai_attributes(serve, write_config, upstream,
                                                            monkeypatch):  # fmt: skip
    with Receiver() as receiver:
        # The standard variables, as any OpenTelemetry SDK reads them.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        text = ROUTES.format(dead=free_port(), upstream=upstream.base_url, hash=hash_key(KEY))
        served = serve(write_config(text))
        client = anthropic.Anthropic(base_url=served.url, api_key=KEY, max_retries=0)
        traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
        headers = {"X-Claude-Code-Session-Id": "session-42", "traceparent": traceparent}
        with client.messages.stream(
            model="opus",
            max_tokens=20,
            extra_headers=headers,
            messages=[{"role": "user", "content": "hi"}],
        ) as stream:
            stream.get_final_message()  # fmt: skip
        client.messages.create(model="opus", max_tokens=20,
                               messages=[{"role": "user", "content": "again"}])  # fmt: skip
        wait_until(lambda: len(receiver.spans) >= 6, "both requests' spans")
    assert set(receiver.paths) == {"/v1/traces"}

    traced = [s for s in receiver.spans if s.trace_id.hex() == TRACE_ID]
    root = next(s for s in traced if s.kind == Span.SPAN_KIND_SERVER)
    assert root.name == "chat opus" and root.parent_span_id.hex() == PARENT_ID
    attributes = _attributes(root)
    assert attributes | {"gen_ai.response.time_to_first_chunk": 0, "gateway.request_id": ""} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "opus",
        "gen_ai.request.stream": True,
        "gen_ai.response.model": "claude-opus-5-5",
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_creation.input_tokens": 0,
        "gen_ai.conversation.id": "session-42",
        "gen_ai.response.time_to_first_chunk": 0,
        "session.id": "session-42",
        "http.request.method": "POST",
        "http.route": "/v1/messages",
        "url.path": "/v1/messages",
        "http.response.status_code": 200,
        "gateway.request_id": "",
        "gateway.key": "alice",
        "gateway.target": "up/claude-opus-5-5",
        "gateway.sink": "up",
        "gateway.attempts": 2,
        # 11 and 7 tokens at the default price of claude-opus-5-5 ($4 and $20 a million).
        "gateway.cost_usd": pytest.approx(0.000184),
    }
    first_token = attributes["gen_ai.response.time_to_first_chunk"]
    assert 0 < first_token < (root.end_time_unix_nano - root.start_time_unix_nano) / 1e9
    assert [e.name for e in root.events] == ["gen_ai.first_token"]

    tries = sorted((s for s in traced if s.parent_span_id == root.span_id),
                   key=lambda s: s.start_time_unix_nano)  # fmt: skip
    assert [(s.name, s.kind) for s in tries] == [
        ("chat claude-opus-5-5", Span.SPAN_KIND_CLIENT)
    ] * 2
    failed, answered = (_attributes(s) for s in tries)
    assert failed == {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                      "gen_ai.request.model": "claude-opus-5-5", "gateway.sink": "dead",
                      "gateway.attempt": 1, "error.type": "connect"}  # fmt: skip
    assert tries[0].status.code == Status.STATUS_CODE_ERROR
    assert answered["gateway.sink"] == "up" and "error.type" not in answered
    assert tries[1].status.code != Status.STATUS_CODE_ERROR
    assert [e.name for e in tries[1].events] == ["gen_ai.first_token"]
    # The try that answered lasts to the answer's end; the failed one ended before it began.
    assert tries[0].end_time_unix_nano <= tries[1].start_time_unix_nano
    assert tries[1].end_time_unix_nano == root.end_time_unix_nano
    assert len(traced) == 3

    # Without Claude Code's header, the session is the key's.
    other = [s for s in receiver.spans if s.trace_id.hex() != TRACE_ID and not s.parent_span_id]
    assert [_attributes(s).get("session.id") for s in other] == ["alice"]
    assert "gen_ai.conversation.id" not in _attributes(other[0])


def test_tracing_off_imports_nothing_of_the_tracing_sdk(write_config, upstream):
    config = write_config(ROUTES.format(dead=1, upstream=upstream.base_url, hash=hash_key(KEY)))
    probe = f"""
import asyncio, os, sys
for name in [n for n in os.environ if n.startswith("OTEL_")]:
    del os.environ[name]
from gateway.config import load_config
from gateway.server.services import Services
services = Services()
asyncio.run(services.configure(load_config({str(config)!r})))
assert services.tracing.recorder is None
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk.trace",
      "opentelemetry.exporter", "gateway.tracing.spans"))))
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=root, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_sampler_decides_for_the_request_and_its_tries(monkeypatch):
    """Spans are built as finished spans, so the sampling and limits a live span would get are
    applied by hand: a client's unsampled trace records nothing (the default sampler follows the
    parent), OTEL_TRACES_SAMPLER=always_off nothing at all; a sampled one records the request
    and its tries under the client's span; OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT cuts values."""
    from gateway import ir
    from gateway.exchange import Attempt, Exchange
    from gateway.tracing.settings import TracingSettings
    from gateway.tracing.spans import SpanRecorder

    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        monkeypatch.delenv(name, raising=False)

    def spans(headers: dict[str, str]) -> list:
        recorder = SpanRecorder(TracingSettings(True, "http://127.0.0.1:9/v1/traces"))
        recorder.processor.shutdown()  # nothing is sent: the spans are read as they end
        ended: list = []
        recorder.processor = SimpleNamespace(on_end=ended.append)
        exchange = Exchange("id", "POST", "/v1/messages", headers, "::1")
        exchange.started, exchange.finished = 1.0, 2.0
        exchange.endpoint, exchange.model, exchange.usage = "anthropic.messages", "opus", ir.Usage()
        exchange.attempts = [Attempt("dead", "m", 1.0, 1.1, "connect"), Attempt("up", "m", 1.1)]
        recorder.record(exchange)
        return ended

    assert spans({"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"}) == []
    sampled = spans({"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    *tries, root = sampled
    assert {format(s.context.trace_id, "032x") for s in sampled} == {TRACE_ID}
    assert format(root.parent.span_id, "016x") == PARENT_ID
    assert [t.parent.span_id for t in tries] == [root.context.span_id] * 2
    assert [t.status.status_code.name for t in tries] == ["ERROR", "UNSET"]
    # The span limits a live span would get apply too.
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")
    *_, cut = spans({})
    assert cut.attributes["url.path"] == "/v1/" and cut.attributes["gateway.request_id"] == "id"
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    assert spans({}) == []
