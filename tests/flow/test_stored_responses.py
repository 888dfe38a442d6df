"""Stored responses through the real `openai` SDK: create, retrieve, input_items, delete,
``previous_response_id`` tool loops and ``item_reference`` items, on the CLI sink (the real
`claude` binary, at /v1) and on an HTTP sink (at /api/v1), both answered by the mock upstream;
two named keys that never see each other's responses; a conversation continued after a
restart."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from mock_upstream import Reply
from processes import wait_for_no_claude
from server import ServedApp
from waiting import wait_until

from gateway.app import create_app
from gateway.config import load_config
from gateway.teams.keys import hash_key

ALICE, BOB, CAROL = "key-alice-0123456789", "key-bob-0123456789", "key-carol-0123456789"

ROUTES = """
version: 1
auth:
  keys:
    - {{name: alice, hash: "{alice}"}}
    - {{name: bob, hash: "{bob}"}}
    - {{name: carol, hash: "{carol}", routes: [/v1/responses]}}
responses:
  path: {store}
  max_bytes: 16384
default_sink: cli
sinks:
  cli:
    kind: cli
    env: {{ANTHROPIC_BASE_URL: "{upstream}", ANTHROPIC_API_KEY: dummy}}
  api:
    kind: http
    dialect: anthropic.messages
    base_url: {upstream}
    headers: {{x-api-key: k}}
models:
  - name: sonnet
    aliases: [gpt-4.1]
routes:
  - {{path: /v1/responses, dialect: openai.responses}}
mounts:
  - {{prefix: /api, sink: api}}
access_log:
  enabled: false
"""

#: The base URL of each sink: the CLI sink at the root, the HTTP sink under the /api mount.
BASES = {"cli": "/v1", "http": "/api/v1"}
WEATHER = {
    "type": "function",
    "name": "weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


@pytest.fixture(scope="module")
def config_text(upstream, tmp_path_factory) -> str:
    store = tmp_path_factory.mktemp("responses") / "responses.db"
    return ROUTES.format(
        alice=hash_key(ALICE),
        bob=hash_key(BOB),
        carol=hash_key(CAROL),
        store=store,
        upstream=upstream.base_url,
    )


@pytest.fixture(scope="module")
def gateway(upstream, config_text, tmp_path_factory) -> Iterator[str]:
    """One gateway for the module; its claude processes talk to the mock upstream."""
    path = tmp_path_factory.mktemp("config") / "routes.yaml"
    path.write_text(config_text)
    app = create_app(load_config(path))
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    yield served.url
    served.stop()
    assert wait_for_no_claude() == []


def client(gateway: str, sink: str = "http", key: str = ALICE) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway + BASES[sink], api_key=key, max_retries=0)


def last_upstream_body(mock) -> dict:
    return mock.messages_requests()[-1].body


def conversation(body: dict) -> list[tuple[str, list[str]]]:
    """The upstream's messages as (role, [block type: text]) without the CLI's own notes."""
    shown = []
    for message in body["messages"]:
        content = message["content"]
        blocks = [content] if isinstance(content, str) else [
            f"{b['type']}:{b.get('text') or b.get('name') or b.get('thinking') or ''}"
            for b in content
            if not (b.get("type") == "text" and b["text"].startswith("<system-reminder>"))
        ]  # fmt: skip
        shown.append((message["role"], blocks))
    return shown


def test_create_retrieve_list_and_delete(gateway, mock):
    oai = client(gateway)
    items = [{"role": "user", "content": f"part {i}"} for i in range(5)]
    created = oai.responses.create(
        model="sonnet", input=items, instructions="Be brief.", metadata={"k": "v"}
    )
    assert created.id.startswith("resp_") and created.output[0].id.startswith("msg_")
    assert (created.instructions, created.metadata, created.previous_response_id) == (
        "Be brief.", {"k": "v"}, None,
    )  # fmt: skip
    assert oai.responses.retrieve(created.id).model_dump() == created.model_dump()
    # input_items: newest first by default; the SDK pages with `after`.
    listed = [item.id for item in oai.responses.input_items.list(created.id, limit=2)]
    ascending = [
        item.id for item in oai.responses.input_items.list(created.id, limit=2, order="asc")
    ]
    assert len(set(listed)) == 5 and listed == ascending[::-1]
    first = oai.responses.input_items.list(created.id, limit=2, order="asc")
    assert [c.text for item in first.data for c in item.content] == ["part 0", "part 1"]
    assert first.has_more and first.first_id == ascending[0] and first.last_id == ascending[1]
    # Not stored when asked so: the answer says it, and nothing can be read back.
    unkept = oai.responses.create(model="sonnet", input="x", store=False)
    assert unkept.model_extra["store"] is False
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(unkept.id)
    assert oai.responses.delete(created.id) is None
    with pytest.raises(openai.NotFoundError) as caught:
        oai.responses.retrieve(created.id)
    assert caught.value.body["message"] == f"Response with id '{created.id}' not found."
    with pytest.raises(openai.NotFoundError):
        oai.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.input_items.list(created.id)
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="sonnet", input="more", previous_response_id=created.id)
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"


@pytest.mark.parametrize("sink", sorted(BASES))
def test_a_tool_loop_continues_by_previous_response_id(gateway, mock, sink):
    """The call, its output by previous_response_id, then a streamed turn continued at once:
    the upstream receives the whole conversation each time, and the first instructions are
    not inherited."""
    oai = client(gateway, sink)
    mock.when(
        "LOOP-PROMPT", Reply(text="Let me look.", tool_calls=[("weather", {"city": "Paris"})])
    )
    mock.when("20C in Paris", Reply(text="LOOP-FINAL: it is 20C.", chunks=4))
    first = oai.responses.create(
        model="sonnet", input="LOOP-PROMPT weather?", tools=[WEATHER], instructions="FIRST-SYSTEM"
    )
    [call] = [item for item in first.output if item.type == "function_call"]
    assert (call.name, json.loads(call.arguments)) == ("weather", {"city": "Paris"})
    with oai.responses.stream(
        model="sonnet",
        previous_response_id=first.id,
        tools=[WEATHER],
        instructions="SECOND-SYSTEM",
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "20C in Paris"}],
    ) as stream:
        second = stream.get_final_response()
    assert second.output_text == "LOOP-FINAL: it is 20C."
    body = last_upstream_body(mock)
    assert conversation(body) == [
        ("user", ["text:LOOP-PROMPT weather?"]),
        ("assistant", ["text:Let me look.", "tool_use:weather"]),
        ("user", ["tool_result:"]),
    ]
    assert (
        body["messages"][2]["content"][0]["tool_use_id"] == body["messages"][1]["content"][1]["id"]
    )
    system = json.dumps(body.get("system"))
    assert "SECOND-SYSTEM" in system and "FIRST-SYSTEM" not in system
    # Stored before its last event was sent: continued as soon as the stream ends.
    third = oai.responses.create(
        model="sonnet", input="LOOP-THANKS", previous_response_id=second.id
    )
    assert conversation(last_upstream_body(mock))[2:] == [
        ("user", ["tool_result:"]),
        ("assistant", ["text:LOOP-FINAL: it is 20C."]),
        ("user", ["text:LOOP-THANKS"]),
    ]
    kept = oai.responses.retrieve(second.id)
    assert (kept.status, kept.output_text, kept.usage) == ("completed", second.output_text,
                                                           second.usage)  # fmt: skip
    assert [item.id for item in kept.output] == [item.id for item in second.output]
    assert third.previous_response_id == second.id
    # Its own input only, the function call's output with an id of its own.
    [output] = oai.responses.input_items.list(second.id).data
    assert output.type == "function_call_output" and output.id.startswith("fco_")


def test_item_references_and_reasoning_sent_back_by_id(gateway, mock):
    """As the Vercel AI SDK and the Agents SDK send earlier output back: by reference, and
    reasoning items without their content; the thinking returns with its signature."""
    oai = client(gateway)
    mock.when("REF-PROMPT", Reply(text="REF-ANSWER", thinking="REF-THOUGHT"))
    first = oai.responses.create(model="sonnet", input="REF-PROMPT")
    reasoning, message = first.output
    assert reasoning.type == "reasoning" and message.type == "message"
    second = oai.responses.create(
        model="sonnet",
        input=[
            {"role": "user", "content": "REF-PROMPT"},
            {"type": "reasoning", "id": reasoning.id, "summary": []},
            {"type": "item_reference", "id": message.id},
            {"role": "user", "content": "REF-NEXT"},
        ],
    )
    body = last_upstream_body(mock)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "REF-THOUGHT", "signature": "sig"},
        {"type": "text", "text": "REF-ANSWER"},
    ]
    listed = oai.responses.input_items.list(second.id, order="asc").data
    assert [item.id for item in listed[1:3]] == [reasoning.id, message.id]
    assert listed[1].encrypted_content == reasoning.encrypted_content
    with pytest.raises(openai.NotFoundError) as caught:
        oai.responses.create(model="sonnet", input=[{"type": "item_reference", "id": "msg_x"}])
    assert caught.value.body["param"] == "input"


def test_a_key_never_reaches_another_keys_responses(gateway, mock):
    alice, bob = client(gateway, key=ALICE), client(gateway, key=BOB)
    kept = alice.responses.create(model="sonnet", input="ALICE-SECRET")
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(kept.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.input_items.list(kept.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.delete(kept.id)
    with pytest.raises(openai.BadRequestError) as caught:
        bob.responses.create(model="sonnet", input="x", previous_response_id=kept.id)
    assert caught.value.code == "previous_response_not_found"
    reference = [{"type": "item_reference", "id": kept.output[0].id}]
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model="sonnet", input=reference)
    assert "ALICE-SECRET" not in json.dumps([r.body for r in mock.received[1:]])
    assert alice.responses.retrieve(kept.id).output_text == kept.output_text
    # A key allowed the Responses route reads its responses below it, and no other route.
    carol = client(gateway, "cli", key=CAROL)
    with pytest.raises(openai.NotFoundError):
        carol.responses.retrieve(kept.id)
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway, "http", key=CAROL).responses.retrieve(kept.id)


def test_an_abandoned_stream_is_stored_incomplete(gateway, mock):
    oai = client(gateway)
    # Slow enough that the client leaves long before the end.
    words = " ".join(f"w{i}" for i in range(20))
    mock.when("LEAVE-EARLY", Reply(text=words, chunks=20, delay=0.2))
    with oai.responses.create(model="sonnet", input="LEAVE-EARLY", stream=True) as stream:
        for event in stream:
            if event.type == "response.created":
                response_id = event.response.id
            if event.type == "response.output_text.delta":
                break

    def stored():
        try:
            return oai.responses.retrieve(response_id)
        except openai.NotFoundError:
            return None

    kept = wait_until(stored, "the abandoned stream's response to be stored")
    assert kept.status == "incomplete"
    assert words.startswith(kept.output[0].content[0].text)
    assert kept.output[0].content[0].text.startswith("w0") and kept.output[0].status == "incomplete"


def test_an_input_over_the_size_cap_is_refused_unless_not_stored(gateway, mock):
    oai = client(gateway)
    big = "x" * 20000
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="sonnet", input=big)
    assert caught.value.param == "store" and "responses.max_bytes" in caught.value.message
    assert oai.responses.create(model="sonnet", input=big, store=False).output_text


def test_the_responses_paths_answer_only_what_they_serve(gateway):
    headers = {"authorization": f"Bearer {ALICE}"}
    for path, method, status in [
        ("/v1/responses/resp_x/cancel", "GET", 404),
        ("/v1/responses/resp_x", "PUT", 405),
        ("/v1/responses/resp_x", "GET", 404),
    ]:
        answer = httpx.request(method, gateway + path, headers=headers)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["error"]["message"]
    unauthenticated = httpx.get(gateway + "/v1/responses/resp_x")
    assert unauthenticated.status_code == 401


def test_a_conversation_continues_after_a_restart(mock, serve, write_config, config_text):
    config = write_config(config_text)
    first = serve(config)
    kept = client(first.url).responses.create(model="sonnet", input="BEFORE-RESTART")
    first.stop()
    second = serve(config)
    client(second.url).responses.create(
        model="sonnet", input="AFTER-RESTART", previous_response_id=kept.id
    )
    assert conversation(last_upstream_body(mock)) == [
        ("user", ["text:BEFORE-RESTART"]),
        ("assistant", [f"text:{kept.output_text}"]),
        ("user", ["text:AFTER-RESTART"]),
    ]


def test_a_gateway_that_keeps_no_responses_says_so(mock, serve, write_config, config_text):
    config = config_text.replace("responses:\n", "responses:\n  enabled: false\n")
    oai = client(serve(write_config(config)).url)
    answer = oai.responses.with_raw_response.create(model="sonnet", input="x")
    assert answer.parse().model_extra["store"] is False
    assert "responses.enabled is false" in answer.headers["x-gateway-not-stored"]
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="sonnet", input="x", previous_response_id=answer.parse().id)
    assert "keeps no responses" in caught.value.message
    with pytest.raises(openai.BadRequestError):
        oai.responses.retrieve(answer.parse().id)
