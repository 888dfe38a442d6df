"""Routing across several targets, driven by the real SDK clients against two mock upstreams
and a port nothing listens on: each way of failing, the strategies' spread by counts, cooldowns
that outlive a reload, and a used-up subscription window."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx
import openai
import pytest
from mock_upstream import MockUpstream, Reply, five_hour_limit_reached
from server import ServedApp
from waiting import wait_until

from gateway.app import create_app
from gateway.config import load_config

RESET = int(time.time()) + 3 * 3600
REJECTED = five_hour_limit_reached(RESET)
ROUTES = """
version: 1
sinks:
  a: {{kind: http, dialect: anthropic.messages, base_url: "{a}"}}
  b: {{kind: http, dialect: anthropic.messages, base_url: "{b}"}}
  dead: {{kind: http, dialect: anthropic.messages, base_url: "http://127.0.0.1:{dead}"}}
  windowed: {{kind: http, dialect: anthropic.messages, base_url: "{a}"}}
  strict: {{kind: http, dialect: anthropic.messages, base_url: "{a}", when_limited: refuse}}
  chat-dead: {{kind: http, dialect: openai.chat, base_url: "http://127.0.0.1:{dead}/v1"}}
routing:
  retry: {{attempts: 2, when: [overloaded], backoff_seconds: 0.01, max_backoff_seconds: 0.02}}
  cooldown: {{failures: 2, seconds: 600}}
models:
  - {{name: refused, targets: [{{sink: dead, model: m-refused}}, {{sink: a, model: m-refused}}]}}
  - {{name: busy, targets: [{{sink: a, model: m-busy}}, {{sink: b, model: m-busy}}]}}
  - {{name: busier, targets: [{{sink: a, model: m-busier}}, {{sink: b, model: m-busier}}]}}
  - {{name: broken, targets: [{{sink: a, model: m-broken}}, {{sink: b, model: m-broken}}]}}
  - {{name: spent, targets: [{{sink: a, model: m-spent}}, {{sink: b, model: m-spent}}]}}
  - {{name: hosted, targets: [{{sink: chat-dead, model: m-hosted}}, {{sink: a, model: m-hosted}}]}}
  - name: slow
    targets: [{{sink: a, model: m-slow}}, {{sink: b, model: m-slow}}]
    retry: {{first_byte_timeout_seconds: 1}}
  - {{name: dies, targets: [{{sink: a, model: m-dies}}, {{sink: b, model: m-dies}}]}}
  - {{name: wrong, targets: [{{sink: a, model: m-wrong}}, {{sink: b, model: m-wrong}}]}}
  - {{name: window, targets: [{{sink: windowed, model: m-window}}, {{sink: b, model: m-window}}]}}
  - {{name: firm, sink: strict, target: m-firm}}
  - {{name: cool, targets: [{{sink: dead, model: m-cool}}, {{sink: b, model: m-cool}}]}}
  - name: turns
    targets: [{{sink: a, model: m-turns}}, {{sink: b, model: m-turns}}]
    strategy: round_robin
  - name: shares
    targets: [{{sink: a, model: m-shares, weight: 3}}, {{sink: b, model: m-shares}}]
    strategy: weighted
  - name: idle
    targets: [{{sink: a, model: m-idle}}, {{sink: b, model: m-idle}}]
    strategy: least_busy
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
  - {{path: /v1/chat/completions, dialect: openai.chat}}
  - {{path: /v1/responses, dialect: openai.responses, hosted_tools: drop}}
"""


class Gateway:
    def __init__(self, served: ServedApp, a: MockUpstream, b: MockUpstream) -> None:
        self.served, self.a, self.b = served, a, b
        self.anthropic = anthropic.Anthropic(base_url=served.url, api_key="x", max_retries=0)
        self.openai = openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0)

    def ask(self, model: str, text: str) -> anthropic.APIResponse:
        """A passthrough request (an Anthropic client to Anthropic upstreams): its raw answer."""
        return self.anthropic.messages.with_raw_response.create(
            model=model, max_tokens=16, messages=[{"role": "user", "content": text}]
        )

    def chat(self, model: str, text: str) -> openai.APIResponse:
        """A translated request (an OpenAI client): its raw answer."""
        return self.openai.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": text}]
        )

    def seen(self, marker: str) -> tuple[int, int]:
        """How many requests with ``marker`` each upstream received."""
        count = lambda mock: sum(marker in str(r.body) for r in mock.messages_requests())  # noqa: E731
        return count(self.a), count(self.b)

    def status(self) -> dict:
        return httpx.get(self.served.url + "/status").json()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    a, b = MockUpstream().start(), MockUpstream().start()
    with socket.socket() as probe:  # a port nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    path = tmp_path_factory.mktemp("targets") / "routes.yaml"
    path.write_text(ROUTES.format(a=a.base_url, b=b.base_url, dead=dead))
    app = create_app(load_config(path), reload_interval=None)
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    yield Gateway(served, a, b)
    served.stop()
    a.stop()
    b.stop()


def test_a_refused_connection_moves_on_for_relayed_and_translated_requests(gateway):
    relayed = gateway.ask("refused", "refused-1")
    assert relayed.parse().content[0].text.startswith("MOCK_REPLY[m-refused]")
    assert relayed.headers["x-gateway-target"] == "a/m-refused"
    assert relayed.headers["x-gateway-attempts"] == "2"
    translated = gateway.chat("refused", "refused-2")
    assert translated.parse().choices[0].message.content.startswith("MOCK_REPLY[m-refused]")
    assert translated.headers["x-gateway-target"] == "a/m-refused"


def test_an_overload_is_retried_with_its_retry_after_then_the_next_target_serves(gateway):
    overloaded = Reply(error=(529, "overloaded_error", "busy"), headers={"retry-after": "0"})
    gateway.a.when("busy-", overloaded)
    relayed = gateway.ask("busy", "busy-1")
    assert relayed.headers["x-gateway-target"] == "b/m-busy"
    assert relayed.headers["x-gateway-attempts"] == "3"  # a twice (retry.attempts), then b
    assert gateway.seen("busy-1") == (2, 1)
    translated = gateway.chat("busier", "busy-2")
    assert translated.headers["x-gateway-target"] == "b/m-busier"
    assert gateway.seen("busy-2") == (2, 1)
    # Two failures in a row (cooldown.failures) cooled a/m-busy down: it is not asked now.
    assert gateway.ask("busy", "busy-3").headers["x-gateway-attempts"] == "1"


def test_a_server_error_moves_on_without_a_retry(gateway):
    gateway.a.when("broken-", Reply(error=(500, "api_error", "boom")))
    answer = gateway.chat("broken", "broken-1")
    assert answer.headers["x-gateway-target"] == "b/m-broken"
    assert gateway.seen("broken-1") == (1, 1)


def test_what_a_target_that_did_not_answer_said_of_itself_is_not_in_the_answer(gateway):
    # An OpenAI Chat upstream cannot run web_search: the gateway drops it for that target
    # and says so; the Anthropic target that answers runs it, so the answer says nothing.
    answer = gateway.openai.responses.with_raw_response.create(
        model="hosted", input="hosted-1", store=False, tools=[{"type": "web_search"}]
    )
    assert answer.headers["x-gateway-target"] == "a/m-hosted"
    assert "x-gateway-dropped-tools" not in answer.headers
    [upstream] = [r for r in gateway.a.messages_requests() if "hosted-1" in str(r.body)]
    assert "web_search" in str(upstream.body["tools"])


def test_a_hang_past_the_first_byte_timeout_moves_on(gateway):
    gate = threading.Event()
    gateway.a.when("slow-", Reply(gate=gate))
    try:
        answer = gateway.chat("slow", "slow-1")
        assert answer.headers["x-gateway-target"] == "b/m-slow"
        assert gateway.seen("slow-1") == (1, 1)
    finally:
        gate.set()


def test_a_stream_that_dies_after_its_first_byte_ends_in_band_and_never_moves_on(gateway):
    gateway.a.when("dies-", Reply(text="one two three four", chunks=4, drop_midway=True))
    with (
        pytest.raises(anthropic.APIError),
        gateway.anthropic.messages.stream(
            model="dies", max_tokens=16, messages=[{"role": "user", "content": "dies-1"}]
        ) as stream,
    ):
        for _ in stream:
            pass
    assert gateway.seen("dies-1") == (1, 0)


def test_a_request_the_client_got_wrong_is_answered_as_is(gateway):
    gateway.a.when("wrong-", Reply(error=(400, "invalid_request_error", "max_tokens: too big")))
    with pytest.raises(anthropic.BadRequestError) as caught:
        gateway.ask("wrong", "wrong-1")
    assert "max_tokens: too big" in caught.value.message
    assert gateway.seen("wrong-1") == (1, 0)
    # Translated, the error is the gateway's own answer: it names the target all the same.
    with pytest.raises(openai.BadRequestError) as refused:
        gateway.chat("wrong", "wrong-2")
    assert refused.value.response.headers["x-gateway-target"] == "a/m-wrong"
    assert refused.value.response.headers["x-gateway-attempts"] == "1"
    assert gateway.seen("wrong-2") == (1, 0)


def test_an_error_answer_after_every_target_failed_names_the_last_one(gateway):
    gateway.a.when("spent-", Reply(error=(500, "api_error", "boom")))
    gateway.b.when("spent-", Reply(error=(500, "api_error", "boom too")))
    with pytest.raises(openai.InternalServerError) as failed:
        gateway.chat("spent", "spent-1")
    assert failed.value.response.headers["x-gateway-target"] == "b/m-spent"
    assert failed.value.response.headers["x-gateway-attempts"] == "2"


def test_a_used_up_window_moves_on_and_is_skipped_until_its_reset(gateway):
    # Sent in title case: the relayed path reads the unified headers in any case.
    titled = {name.title(): value for name, value in REJECTED.items()}
    gateway.a.when("window-", Reply(error=(429, "rate_limit_error", "limit"), headers=titled))
    first = gateway.ask("window", "window-1")
    assert first.headers["x-gateway-target"] == "b/m-window"
    second = gateway.chat("window", "window-2")
    assert second.headers["x-gateway-attempts"] == "1"  # the limited sink is not even asked
    assert gateway.seen("window-") == (1, 2)
    subscription = gateway.status()["sinks"]["windowed"]["subscription"]
    assert subscription["status"] == "rejected" and subscription["limited_until"] == RESET
    assert subscription["windows"]["five_hour"]["utilization"] == 1.0
    # A reload that changes the sink (a new one is built) keeps what it heard.
    config = gateway.served.app.ctx.runtimes.current.config.source
    text = config.read_text()
    config.write_text(
        text.replace("windowed: {kind: http,", "windowed: {kind: http, max_connections: 9,")
    )
    assert gateway.served.call(gateway.served.app.ctx.reloader.reload("test"))
    assert gateway.status()["sinks"]["windowed"]["subscription"]["limited_until"] == RESET
    assert gateway.chat("window", "window-3").headers["x-gateway-attempts"] == "1"
    assert gateway.seen("window-") == (1, 3)


def test_a_limited_sink_that_refuses_answers_429_until_its_reset(gateway):
    gateway.a.when("firm-", Reply(error=(429, "rate_limit_error", "limit"), headers=REJECTED))
    with pytest.raises(anthropic.RateLimitError):
        gateway.ask("firm", "firm-1")  # the upstream's own 429, relayed as it came
    with pytest.raises(openai.RateLimitError) as caught:
        gateway.chat("firm", "firm-2")
    assert "sink 'strict' has used up its five-hour limit" in caught.value.message
    assert 0 < int(caught.value.response.headers["retry-after"]) <= 3 * 3600
    assert gateway.seen("firm-") == (1, 0)


def test_a_target_that_keeps_failing_cools_down_and_a_reload_keeps_it_so(gateway):
    assert [gateway.ask("cool", f"cool-{i}").headers["x-gateway-attempts"] for i in range(3)] == [
        "2", "2", "1",
    ]  # fmt: skip
    cooling = gateway.status()["targets"]["dead/m-cool"]
    assert cooling["state"] == "cooling" and cooling["until"] > time.time() + 500
    assert gateway.served.call(gateway.served.app.ctx.reloader.reload("test"))
    assert gateway.ask("cool", "cool-3").headers["x-gateway-attempts"] == "1"
    # Counted by the request-finished hook, which runs once the answer is out: wait for it.
    tried = 'gateway_sink_attempts_total{outcome="connect",sink="dead"} '

    def counted() -> str:
        text = httpx.get(gateway.served.url + "/metrics").text
        line = next((line for line in text.splitlines() if line.startswith(tried)), "")
        return text if line and float(line.split()[-1]) >= 2 else ""

    metrics = wait_until(counted, "the metrics to count the refused connections")
    assert 'gateway_target_cooling{target="dead/m-cool"} 1' in metrics


def test_round_robin_and_weighted_spread_by_counts(gateway):
    turns = [gateway.ask("turns", f"turns-{i}").headers["x-gateway-target"] for i in range(4)]
    assert turns == ["a/m-turns", "b/m-turns", "a/m-turns", "b/m-turns"]
    shares = [gateway.chat("shares", f"shares-{i}").headers["x-gateway-target"] for i in range(8)]
    assert shares.count("a/m-shares") == 6 and shares.count("b/m-shares") == 2
    assert shares[:4] != ["a/m-shares"] * 3 + ["b/m-shares"]  # spread out, not in a run


def test_least_busy_sends_the_next_request_where_fewer_are_in_flight(gateway):
    gate = threading.Event()
    gateway.a.when("idle-held", Reply(gate=gate))
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(gateway.ask, "idle", "idle-held")
        try:
            wait_until(lambda: gateway.seen("idle-held") == (1, 0), "the held request on a")
            assert gateway.ask("idle", "idle-next").headers["x-gateway-target"] == "b/m-idle"
        finally:
            gate.set()
        assert held.result(30).headers["x-gateway-target"] == "a/m-idle"
