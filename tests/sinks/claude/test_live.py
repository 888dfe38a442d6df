"""Live conversations with the real `claude` against the mock upstream, through the real SDKs:
a conversation keeps its process, the upstream gets what a cold run of the same request gets,
and nothing of one caller or one history reaches another's process.

Which process answered a request shows in what the upstream received: the CLI puts its session
id (one per process) in ``metadata.user_id``.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from media import tiny_png
from metrics_text import value
from mock_upstream import MockUpstream, Reply
from processes import claude_children, wait_for_no_claude
from server import ServedApp
from upstream_view import turns
from waiting import wait_until

from gateway.app import create_app
from gateway.config import load_config
from gateway.sinks.claude.binary import locate
from gateway.teams.keys import hash_key, new_key

KEYS = {name: new_key() for name in ("alice", "bob")}

ROUTES = """\
version: 1
sinks:
  claude:
    kind: cli
    binary: "{binary}"
    live: {live}
    live_reserve_mib: 0
    env: {{ANTHROPIC_BASE_URL: "{url}", ANTHROPIC_API_KEY: dummy}}{extra}{both}
  cold:
    kind: cli
    env: {{ANTHROPIC_BASE_URL: "{url}", ANTHROPIC_API_KEY: dummy}}{both}
models:
  - name: opus
    aliases: [gpt-4o]
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
  - {{path: /v1/chat/completions, dialect: openai.chat}}
mounts:
  - {{prefix: /cold, sink: cold}}
auth:
  keys:
    - {{name: alice, hash: "{alice}", admin: true}}
    - {{name: bob, hash: "{bob}"}}
access_log:
  enabled: false
"""

WEATHER = {
    "name": "get_weather",
    "description": "The weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TIME = {"name": "get_time", "description": "The time", "input_schema": {"type": "object"}}


def serve_live(
    base: Path, url: str, *, live: int = 4, extra: str = "", both: str = "", binary: str = ""
) -> ServedApp:
    """A gateway whose sink ``claude`` keeps conversations (``extra``: more of its options),
    and whose ``/cold`` mount runs each request on its own (``both``: options of both)."""
    routes = ROUTES.format(
        binary=binary or locate(None), url=url, live=live, extra=extra, both=both,
        alice=hash_key(KEYS["alice"]), bob=hash_key(KEYS["bob"]),
    )  # fmt: skip
    (base / "routes.yaml").write_text(routes, encoding="utf-8")
    app = create_app(load_config(base / "routes.yaml"), name=f"live_{base.name}")
    app.config.TOUCHUP = False
    return ServedApp(app).start()


@pytest.fixture(scope="module")
def gateway(
    upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApp]:
    served = serve_live(tmp_path_factory.mktemp("live"), upstream.base_url)
    yield served
    served.stop()
    assert wait_for_no_claude() == [], "a live process outlived its server"


def client(gateway: ServedApp, key: str = "alice", prefix: str = "") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url + prefix, api_key=KEYS[key], max_retries=0)


def live_status(gateway: ServedApp) -> dict:
    headers = {"x-api-key": KEYS["alice"]}
    return httpx.get(gateway.url + "/status", headers=headers, timeout=10).json()["sinks"][
        "claude"
    ]["live"]


def kept_pids(gateway: ServedApp) -> set[int]:
    return {process["pid"] for process in live_status(gateway)["processes"]}


def session_of(body: dict) -> str:
    """The id of the CLI session (one per process) that sent ``body`` upstream."""
    return json.loads(body["metadata"]["user_id"])["session_id"]


def without_ids(body: dict) -> dict:
    """An upstream body without what differs between any two processes (docs/cli-sink.md)."""
    return {k: v for k, v in body.items() if k != "metadata"}


def ask(claude: anthropic.Anthropic, messages: list, *, stream: bool = False, **extra):
    ask = {"model": "opus", "max_tokens": 200, "system": "be brief", "messages": messages,
           "tools": [WEATHER, TIME]} | extra  # fmt: skip
    if stream:
        with claude.messages.stream(**ask) as answer:
            return answer.get_final_message()
    return claude.messages.create(**ask)


def echo(message) -> dict:
    """An answer as the client sends it back in its next request."""
    return {
        "role": "assistant",
        "content": [b.model_dump(exclude_none=True) for b in message.content],
    }


def results(*pairs) -> dict:
    return {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call_id, "content": content} for call_id, content in pairs
    ]}  # fmt: skip


def test_an_agent_conversation_keeps_one_process_and_sends_what_cold_runs_send(gateway, mock):
    mock.when(
        "weather in Paris",
        Reply(
            text="Let me look.",
            tool_calls=[("get_weather", {"city": "Paris"})],
            stop_reason="tool_use",
        ),
    )
    mock.when("sunny 21C", Reply(text="It is sunny."))
    # Tool ids are unique within a conversation, as the API makes them (the CLI relies on it).
    mock.when(
        "two cities",
        Reply(
            tool_calls=[("get_weather", {"city": "Rome"}), ("get_time", {})],
            tool_ids=["toolu_rome", "toolu_time"],
            stop_reason="tool_use",
        ),
    )
    mock.when("rainy", Reply(text="Rome is rainy at ten."))
    claude = client(gateway)
    before = live_status(gateway)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": base64.b64encode(tiny_png()).decode()}}  # fmt: skip
    steps = [
        lambda m: {"role": "user", "content": "hello ✓"},
        lambda m: {"role": "user", "content": "the weather in Paris?"},
        lambda m: results((m.content[1].id, "sunny 21C")),
        lambda m: {"role": "user", "content": "and in two cities?"},
        lambda m: results((m.content[0].id, [{"type": "text", "text": "rainy"}]),
                          (m.content[1].id, [{"type": "text", "text": "10:00"}, image])),
        lambda m: {"role": "user", "content": [{"type": "text", "text": "this picture?"}, image]},
    ]  # fmt: skip
    messages: list = []
    requests, bodies, answer = [], [], None
    for number, step in enumerate(steps):
        if answer is not None:
            messages.append(echo(answer))
        messages.append(step(answer))
        seen = len(mock.messages_requests())
        answer = ask(claude, list(messages), stream=number % 2 == 1)
        requests.append(list(messages))
        [sent] = mock.messages_requests()[seen:]
        bodies.append(sent.body)
        # Each answer reports its own usage, also after a held call (whose query's totals
        # cover two messages).
        assert (answer.usage.input_tokens, answer.usage.output_tokens) == (11, 7)
    assert [a["content"][0].get("text") for a in [echo(answer)]] == [
        "MOCK_REPLY[claude-opus-5-5]: this picture?"
    ]
    assert len({session_of(body) for body in bodies}) == 1, "every turn was the same process's"
    after = live_status(gateway)
    assert after["hits"] - before["hits"] == 5
    assert after["misses"].get("new", 0) - before["misses"].get("new", 0) == 1
    # Each request again, cold: the upstream gets the same body, field by field.
    cold = client(gateway, prefix="/cold")
    for number, history in enumerate(requests):
        seen = len(mock.messages_requests())
        ask(cold, history)
        [sent] = mock.messages_requests()[seen:]
        assert session_of(sent.body) != session_of(bodies[number])
        assert without_ids(sent.body) == without_ids(bodies[number]), f"request {number + 1}"


def test_another_key_or_an_edited_history_never_reaches_a_live_process(gateway, mock):
    alice, bob = client(gateway), client(gateway, "bob")
    first = [{"role": "user", "content": "my secret is S3CR3T"}]
    answer = ask(alice, first)
    [kept] = mock.messages_requests()
    later = [*first, echo(answer), {"role": "user", "content": "what is my secret?"}]
    edited = [{"role": "user", "content": "my secret is S3CR3t"}, *later[1:]]
    before = live_status(gateway)
    ask(bob, later)
    ask(alice, edited)
    ask(alice, later)
    by_bob, edited_by_alice, alices_next = mock.messages_requests()[1:]
    assert session_of(by_bob.body) != session_of(kept.body)
    assert session_of(edited_by_alice.body) != session_of(kept.body)
    assert session_of(alices_next.body) == session_of(kept.body)
    after = live_status(gateway)
    assert after["hits"] - before["hits"] == 1
    assert after["misses"]["new"] - before["misses"]["new"] == 2


def test_results_the_live_path_cannot_carry_go_cold_and_end_the_process(gateway, mock):
    mock.when(
        "weather in Paris",
        Reply(tool_calls=[("get_weather", {"city": "Paris"})], stop_reason="tool_use"),
    )
    mock.when("no such city", Reply(text="Sorry."))
    claude = client(gateway)
    messages = [{"role": "user", "content": "the weather in Paris?"}]
    before = kept_pids(gateway)
    answer = ask(claude, messages)
    [holding] = [p for p in live_status(gateway)["processes"] if p["pid"] not in before]
    assert holding["holding_tool_calls"] == 1
    failed = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": answer.content[0].id,
                                           "content": "no such city", "is_error": True}]}  # fmt: skip
    assert ask(claude, [*messages, echo(answer), failed]).content[0].text == "Sorry."
    first, second = mock.messages_requests()
    assert session_of(first.body) != session_of(second.body)
    assert second.body["messages"][-1]["content"][0]["content"] == [
        {"type": "text", "text": "no such city"}
    ]
    wait_until(
        lambda: holding["pid"] not in claude_children(), "the process holding the call to end"
    )
    assert live_status(gateway)["ended"]["results"] >= 1


def test_a_client_gone_midway_ends_the_process(gateway, mock):
    claude = client(gateway)
    first = [{"role": "user", "content": "hello"}]
    before = kept_pids(gateway)
    answer = ask(claude, first)
    [pid] = kept_pids(gateway) - before
    hits = live_status(gateway)["hits"]
    mock.when("a long one", Reply(text="z" * 300, chunks=150, delay=0.03))
    body = json.dumps({
        "model": "opus", "max_tokens": 200, "system": "be brief", "stream": True, "tools": [WEATHER, TIME],
        "messages": [*first, echo(answer), {"role": "user", "content": "a long one"}],
    })  # fmt: skip
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(
            f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {KEYS['alice']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}".encode()
        )
        received = b""
        while b"content_block_delta" not in received:
            received += sock.recv(65536)
    assert live_status(gateway)["hits"] == hits + 1, "the turn was a live one"
    wait_until(lambda: pid not in claude_children(), "the process of the abandoned turn to end")
    assert pid not in kept_pids(gateway)


def test_a_streamed_openai_tool_loop_stays_in_its_process(gateway, mock):
    mock.when(
        "weather in Oslo",
        Reply(
            text="Checking.", tool_calls=[("get_weather", {"city": "Oslo"})], stop_reason="tool_use"
        ),
    )
    mock.when("snow", Reply(text="It snows in Oslo."))
    oai = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEYS["alice"], max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {"name": WEATHER["name"], "parameters": WEATHER["input_schema"]},
        }
    ]
    messages: list = [{"role": "user", "content": "the weather in Oslo?"}]
    text, calls = "", {}
    for chunk in oai.chat.completions.create(
        model="gpt-4o", messages=messages, tools=tools, stream=True
    ):
        delta = chunk.choices[0].delta if chunk.choices else None
        text += (delta and delta.content) or ""
        for call in (delta and delta.tool_calls) or []:
            entry = calls.setdefault(
                call.index, {"id": call.id, "name": call.function.name, "arguments": ""}
            )
            entry["arguments"] += call.function.arguments or ""
    [call] = calls.values()
    messages += [
        {"role": "assistant", "content": text, "tool_calls": [{"id": call["id"], "type": "function",
         "function": {"name": call["name"], "arguments": call["arguments"]}}]},
        {"role": "tool", "tool_call_id": call["id"], "content": "snow"},
    ]  # fmt: skip
    chunks = list(
        oai.chat.completions.create(model="gpt-4o", messages=messages, tools=tools, stream=True)
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "It snows in Oslo."
    )
    first, second = mock.messages_requests()
    assert session_of(first.body) == session_of(second.body)


def test_status_and_metrics_show_the_live_processes(gateway):
    status = live_status(gateway)
    assert status["max"] == 4 and status["kept"] == len(status["processes"]) >= 1
    assert status["memory_mib"] > 0 or wait_until(
        lambda: live_status(gateway)["memory_mib"] > 0, "a memory reading"
    )
    metrics = httpx.get(
        gateway.url + "/metrics", headers={"x-api-key": KEYS["alice"]}, timeout=10
    ).text
    assert (
        value(metrics, "gateway_sink_live_processes", sink="claude") == live_status(gateway)["kept"]
    )
    assert (
        value(metrics, "gateway_sink_live_hits_total", sink="claude")
        == live_status(gateway)["hits"]
    )
    assert value(metrics, "gateway_sink_live_misses_total", sink="claude", reason="new") >= 1


def test_without_bare_only_the_clis_own_environment_entry_differs(upstream, mock, tmp_path):
    """Without --bare (a subscription login) the CLI adds a "# Environment" system entry of
    its own to each request: a cold run after the last turn, a live process where its first
    turn put it (docs/cli-sink.md). Everything else is what a cold run sends."""
    served = serve_live(tmp_path, upstream.base_url, both="\n    bare: false")
    try:
        claude, cold = client(served), client(served, prefix="/cold")
        messages: list = []
        live_bodies, cold_bodies = [], []
        for question in ("Q1", "Q2", "Q3"):
            messages.append({"role": "user", "content": question})
            answer = ask(claude, messages)
            live_bodies.append(mock.messages_requests()[-1].body)
            ask(cold, messages)
            cold_bodies.append(mock.messages_requests()[-1].body)
            messages.append(echo(answer))
        assert len({session_of(body) for body in live_bodies}) == 1

        def environment_at(body):
            return [i for i, m in enumerate(body["messages"]) if m["role"] == "system"]

        assert [environment_at(b) for b in live_bodies] == [[1], [1], [1]]
        assert [environment_at(b) for b in cold_bodies] == [[1], [3], [5]]
        for live, cold_body in zip(live_bodies, cold_bodies, strict=True):
            assert turns(live) == turns(cold_body)
            others = {k for k in live if k not in ("metadata", "messages")}
            assert {k: live[k] for k in others} == {k: cold_body[k] for k in others}
    finally:
        served.stop()
