"""Fuzzing: whatever a client sends to a POST route, the answer comes in time, is never a 5xx,
and every error is in the route's own dialect shape (README, "Fuzzing").

The gateway serves the default routes.yaml with a token and a public URL (so auth and the
Host/Origin checks run), its sinks redirected to the mock upstream: the claude sinks become HTTP
sinks of the Anthropic API, except the /sdk mount's, which speaks OpenAI Chat so that Anthropic
bodies are decoded there instead of relayed. Every POST path of every mount is fuzzed: the three
dialect decoders (and the other shapes chat routes take), the passthrough relay, the custom
routes' transforms. Bounded and reproducible; GATEWAY_FUZZ_EXAMPLES runs it longer.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fuzz_requests import (
    PUBLIC_HOST,
    TOKEN,
    Answer,
    Sent,
    body_bytes,
    headers,
    mutated_body,
    send,
)
from fuzz_seeds import PATCH, SEEDS
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from mock_upstream import Reply
from server import ServedApp

from gateway.app import create_app
from gateway.config import load_config
from gateway.flow.routes import Route

REPO = Path(__file__).resolve().parent.parent
#: Examples per test; the default keeps the whole module near 25 s on 2 cores.
EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "1000"))
#: Seconds an answer may take: the mock answers in milliseconds, so only a hang reaches it.
TIMEOUT = 60.0
#: The sink that speaks OpenAI Chat, so that its mount decodes Anthropic bodies.
OPENAI_SINK = "claude-sdk"

# A hung request fails on its own (TIMEOUT); this bounds a long run as a whole.
pytestmark = pytest.mark.timeout(120 + EXAMPLES // 4)
#: Other examples than CI's: any integer (CI's run is derandomized, the same every time).
SEED = os.environ.get("GATEWAY_FUZZ_SEED")


def fuzz_settings(test):
    test = settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(test)
    return test if SEED is None else seed(int(SEED))(test)


MOCK_ANSWERS = {
    "read a.txt": Reply(tool_calls=[("read_file", {"path": "a.txt"})], stop_reason="tool_use"),
    "patch it": Reply(tool_calls=[("apply_patch", {"input": PATCH})], stop_reason="tool_use"),
    "think": Reply(text="It is short.", thinking="Read it first."),
}


@dataclass
class FuzzGateway:
    served: ServedApp
    routes: list[Route]

    @property
    def port(self) -> int:
        return self.served.port


def _mock_sinks(document: dict, mock_url: str) -> dict:
    """The default sinks, each an HTTP sink of the mock upstream (the CLI would take seconds)."""
    sinks = {}
    for name, options in document["sinks"].items():
        if options["kind"] == "http":
            sinks[name] = options  # the Anthropic API sink: its base_url comes from the env
            continue
        limits = {
            k: v
            for k, v in options.items()
            if k in ("max_concurrency", "max_queue", "queue_timeout")
        }
        dialect = "openai.chat" if name == OPENAI_SINK else "anthropic.messages"
        url = mock_url + "/v1" if dialect == "openai.chat" else mock_url
        sinks[name] = {"kind": "http", "dialect": dialect, "base_url": url, **limits}
    return sinks


@pytest.fixture(scope="module")
def fuzz_gateway(upstream, tmp_path_factory, fuzz_tally) -> Iterator[FuzzGateway]:
    directory = tmp_path_factory.mktemp("fuzz")
    for folder in ("transforms", "schemas"):
        shutil.copytree(REPO / folder, directory / folder)
    document = yaml.safe_load((REPO / "routes.yaml").read_text(encoding="utf-8"))
    document["sinks"] = _mock_sinks(document, upstream.base_url)
    (directory / "routes.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GATEWAY_TOKEN", TOKEN)
        env.setenv("GATEWAY_PUBLIC_URL", f"https://{PUBLIC_HOST}")
        env.setenv("GATEWAY_ACCESS_LOG", str(directory / "access.log"))
        env.setenv("GATEWAY_CODE_ROOT", str(directory))
        env.setenv("ANTHROPIC_BASE_URL", upstream.base_url)
        env.setenv("ANTHROPIC_API_KEY", "mock-key")
        app = create_app(load_config(directory / "routes.yaml"))
        app.config.TOUCHUP = False
        served = ServedApp(app).start()
    routes = [r for r in app.ctx.runtimes.current.router if r.endpoint.calls_sink]
    fuzz_tally["routes"] = len(routes)
    # Seeds that ask for these get tool calls and thinking back, so the answer encoders run too.
    for marker, reply in MOCK_ANSWERS.items():
        upstream.when(marker, reply)
    yield FuzzGateway(served, routes)
    served.stop()
    upstream.reset()


def _seeds(route: Route) -> list[dict]:
    name = route.endpoint.name
    return SEEDS[route.path if name == "custom" else name]


def _error_shape(route: Route, sent: Sent) -> str:
    """The shape a client of ``route`` reads errors in; custom routes go by the client's
    headers (gateway.dialects.error_encoder)."""
    if route.endpoint.name.startswith("anthropic."):
        return "anthropic"
    if route.endpoint.name.startswith("openai."):
        return "openai"
    return "anthropic" if sent.header(b"anthropic-version") else "openai"


def _check(route: Route, sent: Sent, answer: Answer) -> None:
    assert answer.status < 500, answer.body[:2000]
    content_type = answer.headers.get("content-type", "")
    if answer.status >= 400:
        assert content_type.startswith("application/json"), (content_type, answer.body[:300])
        body = json.loads(answer.body)
        if _error_shape(route, sent) == "anthropic":
            assert body["type"] == "error", body
            error = body["error"]
        else:
            assert set(body) == {"error"}, body
            error = body["error"]
            assert {"param", "code"} <= set(error), body
        assert isinstance(error["type"], str) and isinstance(error["message"], str), body
    elif content_type.startswith("text/event-stream"):
        for line in answer.body.decode("utf-8").splitlines():
            if line.startswith("data: {"):
                event = json.loads(line[6:])
                assert "error" not in event and event.get("type") != "response.failed", event
    else:
        json.loads(answer.body)


def _attempt(gateway: FuzzGateway, tally: Counter, route: Route, sent: Sent) -> None:
    tally["cases"] += 1
    try:
        answer = send(gateway.port, sent, TIMEOUT)
        tally[f"status {answer.status}"] += 1
        _check(route, sent, answer)
    except BaseException:
        tally["failures"] += 1
        raise


def _clean_headers(port: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"Host", b"127.0.0.1:%d" % port),
        (b"Content-Type", b"application/json"),
        (b"x-api-key", TOKEN.encode()),
        (b"anthropic-version", b"2023-06-01"),
    ]


def _target(route: Route, draw) -> bytes:
    return draw(st.sampled_from([route.path, route.path + "/", route.path + "?beta=true"])).encode()


def test_every_seed_is_answered(fuzz_gateway):
    """Mutations start from requests the gateway serves, or the fuzz would stay at the door."""
    for route in fuzz_gateway.routes:
        if route.mount is not None:
            continue
        for request in _seeds(route):
            sent = Sent(
                route.path.encode(), _clean_headers(fuzz_gateway.port), json.dumps(request).encode()
            )
            answer = send(fuzz_gateway.port, sent, TIMEOUT)
            assert answer.status == 200, (route.path, request, answer.body[:500])


@fuzz_settings
@given(data=st.data())
def test_mutated_bodies(fuzz_gateway, fuzz_tally, data):
    """Well-formed HTTP, authenticated; the body a valid request of the route, mutated."""
    route = data.draw(st.sampled_from(fuzz_gateway.routes), label="route")
    body = data.draw(mutated_body(_seeds(route)), label="body")
    raw = data.draw(body_bytes(body), label="raw")
    sent = Sent(_target(route, data.draw), _clean_headers(fuzz_gateway.port), raw)
    _attempt(fuzz_gateway, fuzz_tally, route, sent)


@fuzz_settings
@given(data=st.data())
def test_hostile_requests(fuzz_gateway, fuzz_tally, data):
    """Odd headers (credentials, content types, hosts, origins), encodings and framing."""
    route = data.draw(st.sampled_from(fuzz_gateway.routes), label="route")
    body = data.draw(mutated_body(_seeds(route)), label="body")
    raw = data.draw(body_bytes(body), label="raw")
    lines = data.draw(
        headers(fuzz_gateway.port, route.endpoint.name.startswith("anthropic.")), label="headers"
    )
    sent = Sent(_target(route, data.draw), lines, raw, chunked=data.draw(st.booleans()))
    _attempt(fuzz_gateway, fuzz_tally, route, sent)
