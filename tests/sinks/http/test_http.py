"""The HTTP sink through the real openai and anthropic SDKs, against the mock upstream."""

from __future__ import annotations

import base64
import json

import anthropic
import httpx
import openai
import pytest
from metrics_text import value
from mock_upstream import Reply

ROUTES = """
version: 1
default_sink: anthropic-up
sinks:
  anthropic-up:
    kind: http
    base_url: ${MOCK_URL}
    dialect: anthropic.messages
    headers:
      x-api-key: ${UPSTREAM_KEY}
  openai-up:
    kind: http
    base_url: ${MOCK_URL}/v1
    dialect: openai.chat
    headers:
      authorization: Bearer ${UPSTREAM_KEY}
models:
  - name: opus
    aliases: [gpt-4o]
    target: claude-opus-5-5
  - name: gpt-mock
    sink: openai-up
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
  - path: /v1/responses
    dialect: openai.responses
  - path: /v1/messages/count_tokens
    dialect: anthropic.count_tokens
mounts:
  - prefix: /api
    sink: anthropic-up
  - prefix: /oa
    sink: openai-up
access_log:
  enabled: false
"""

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def gateway(mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setenv("UPSTREAM_KEY", "upstream-secret")
    return serve(write_config(ROUTES))


@pytest.fixture
def oai(gateway):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="client-key", max_retries=0)


@pytest.fixture
def claude(gateway):
    return anthropic.Anthropic(base_url=gateway.url, api_key="client-key", max_retries=0)


# --- OpenAI client -> Anthropic upstream (translated) ---------------------------------------


def test_openai_chat_reaches_anthropic_upstream_as_messages(oai, mock):
    answer = oai.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            },
        ],
        max_completion_tokens=321,
        temperature=0.25,
        top_p=0.5,
        stop=["END"],
        user="user-7",
    )
    assert answer.choices[0].message.content == "MOCK_REPLY[claude-opus-5-5]: what is this?"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.prompt_tokens == 11 and answer.usage.completion_tokens == 7
    sent = mock.messages_requests()[-1]
    assert sent.headers["x-api-key"] == "upstream-secret"
    assert "client-key" not in json.dumps(sent.headers)
    assert sent.body == {
        "model": "claude-opus-5-5",
        "system": "You are terse.\n\nAnswer in English.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "first question"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "first answer"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                ],
            },
        ],
        "max_tokens": 321,
        "temperature": 0.25,
        "top_p": 0.5,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-7"},
    }


def test_openai_tools_round_trip_through_anthropic_upstream(oai, mock):
    mock.when(
        "weather?", Reply(tool_calls=[("get_weather", {"city": "Paris"})], stop_reason="tool_use")
    )
    answer = oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"type": "function", "function": WEATHER}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    sent = mock.messages_requests()[-1].body
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": WEATHER["parameters"],
        }
    ]
    assert sent["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }

    # The client runs the tool and sends the result back.
    oai.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
        tools=[{"type": "function", "function": WEATHER}],
    )
    turns = mock.messages_requests()[-1].body["messages"]
    assert turns[1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Paris"}}
        ],
    }
    assert turns[2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": call.id,
                "content": [{"type": "text", "text": "sunny, 21C"}],
            }
        ],
    }


def test_openai_stream_from_anthropic_upstream(oai, mock):
    mock.when(
        "stream me", Reply(text="one two three four", chunks=4, input_tokens=30, output_tokens=9)
    )
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(deltas) == "one two three four" and len(deltas) == 4
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 30
    assert chunks[-1].usage.completion_tokens == 9
    assert mock.messages_requests()[-1].body["stream"] is True


def test_top_k_and_thinking_in_a_chat_body_are_carried_with_the_rest(oai, mock):
    oai.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "hi"},
        ],
        max_tokens=2000,
        stop=["END"],
        extra_body={"top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    sent = mock.received[-1].body
    assert sent["system"] == "Answer in French." and sent["stop_sequences"] == ["END"]
    assert sent["top_k"] == 40 and sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert [m["role"] for m in sent["messages"]] == ["user"]


def test_a_tool_that_printed_nothing_reaches_the_upstream_without_an_empty_text(oai, mock):
    call = {"id": "call_1", "type": "function", "function": {"name": "touch", "arguments": "{}"}}
    oai.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": "make the file"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": ""},
            {"role": "tool", "tool_call_id": "call_2", "content": "\n"},
        ],
    )
    results = mock.received[-1].body["messages"][-1]["content"]
    assert results == [
        {"type": "tool_result", "tool_use_id": "call_1"},
        {"type": "tool_result", "tool_use_id": "call_2"},
    ]


def test_half_an_emoji_from_the_upstream_reaches_the_client(oai, mock):
    # An upstream that splits an emoji between two deltas sends a lone surrogate escape; no
    # UTF-8 holds it, so the gateway writes it back as an escape instead of failing (a 500).
    mock.when("half", Reply(text="smile \ud83d", chunks=2))
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "half"}]}
    assert oai.chat.completions.create(**ask).choices[0].message.content == "smile \ud83d"
    chunks = list(oai.chat.completions.create(**ask, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "smile \ud83d"
    )


def test_openai_stream_tool_call_fragments(oai, mock):
    mock.when(
        "tool stream",
        Reply(
            text="Checking.", tool_calls=[("get_weather", {"city": "Oslo"})], stop_reason="tool_use"
        ),
    )
    stream = oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "tool stream"}],
        tools=[{"type": "function", "function": WEATHER}],
        stream=True,
    )
    chunks = list(stream)
    fragments = [
        c.choices[0].delta.tool_calls[0]
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert fragments[0].id == "toolu_mock_0" and fragments[0].function.name == "get_weather"
    assert all(f.id is None and f.function.name is None for f in fragments[1:])
    assert {f.index for f in fragments} == {0}
    assert json.loads("".join(f.function.arguments for f in fragments)) == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert "usage" not in chunks[-1].model_dump(exclude_none=True)


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(oai, mock, stop_reason, finish_reason):
    mock.next(Reply(text="x", stop_reason=stop_reason))
    answer = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].finish_reason == finish_reason


# --- Anthropic client -> OpenAI upstream (translated) ---------------------------------------


def test_anthropic_messages_reach_openai_upstream_as_chat(gateway, mock):
    client = anthropic.Anthropic(base_url=gateway.url + "/oa", api_key="client-key", max_retries=0)
    mock.when(
        "weather in Rome",
        Reply(tool_calls=[("get_weather", {"city": "Rome"})], stop_reason="tool_use"),
    )
    message = client.messages.create(
        model="gpt-mock",
        max_tokens=99,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[
            {"role": "user", "content": "earlier"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "cold"},
                    {"type": "text", "text": "weather in Rome"},
                ],
            },
        ],
        tools=[
            {
                "name": "get_weather",
                "description": "Weather for a city",
                "input_schema": WEATHER["parameters"],
            }
        ],
        tool_choice={"type": "any"},
        stop_sequences=["###"],
        extra_body={"temperature": 0.5},  # the 2026 SDK no longer has a temperature argument
    )
    assert message.stop_reason == "tool_use"
    assert message.content[0].type == "tool_use" and message.content[0].input == {"city": "Rome"}
    assert message.usage.input_tokens == 11 and message.usage.output_tokens == 7
    sent = [r for r in mock.received if r.path == "/v1/chat/completions"][-1]
    assert sent.headers["Authorization"] == "Bearer upstream-secret"
    assert sent.body == {
        "model": "gpt-mock",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "earlier"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "cold"},
            {"role": "user", "content": "weather in Rome"},
        ],
        "max_tokens": 99,
        "temperature": 0.5,
        "stop": ["###"],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": WEATHER["parameters"],
                    "description": "Weather for a city",
                },
            }
        ],
        "tool_choice": "required",
    }


def test_anthropic_stream_from_openai_upstream(gateway, mock):
    client = anthropic.Anthropic(base_url=gateway.url + "/oa", api_key="client-key", max_retries=0)
    mock.when(
        "stream please", Reply(text="alpha beta gamma", chunks=3, input_tokens=5, output_tokens=3)
    )
    with client.messages.stream(
        model="gpt-mock", max_tokens=50, messages=[{"role": "user", "content": "stream please"}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["alpha ", "beta g", "amma"]
    assert final.content[0].text == "alpha beta gamma"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 5 and final.usage.output_tokens == 3
    sent = [r for r in mock.received if r.path == "/v1/chat/completions"][-1].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


# --- passthrough ----------------------------------------------------------------------------


def test_anthropic_passthrough_is_byte_for_byte(gateway, mock):
    body = b'{"model": "claude-x-1",  "max_tokens": 5, "messages": [{"role":"user","content":"raw \\u00e9"}]}'
    headers = [
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "some-beta"),
        ("anthropic-beta", "other-beta"),  # a header sent twice arrives with both values
        ("x-api-key", "client-key"),
    ]
    mock.next(Reply(text="fixed", message_id="msg_fixed"))
    via_gateway = httpx.post(
        gateway.url + "/api/v1/messages?beta=true", content=body, headers=headers
    )
    sent = mock.received[-1]
    assert sent.raw == body
    assert sent.query == "beta=true"
    assert sent.headers["anthropic-beta"] == "some-beta, other-beta"
    assert sent.headers["x-api-key"] == "upstream-secret"
    mock.next(Reply(text="fixed", message_id="msg_fixed"))
    direct = httpx.post(mock.base_url + "/v1/messages", content=body, headers=headers)
    assert via_gateway.status_code == 200
    assert via_gateway.content == direct.content
    assert via_gateway.headers["request-id"] == "req_mock"


def test_an_upstream_cookie_is_never_replayed_to_it(mock, serve, write_config, monkeypatch):
    """Upstream state must not pass from one client's request to the next: a cookie the upstream
    sets is neither kept for later requests nor handed to the client. The upstream is named
    ``localhost``, as a cookie jar keeps no cookie of a bare IP address."""
    monkeypatch.setenv("MOCK_URL", mock.base_url.replace("127.0.0.1", "localhost"))
    monkeypatch.setenv("UPSTREAM_KEY", "upstream-secret")
    gateway = serve(write_config(ROUTES))
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="client-key", max_retries=0)
    oai = openai.OpenAI(base_url=gateway.url + "/v1", api_key="client-key", max_retries=0)
    cookie = {"set-cookie": "session=client-a-secret; Path=/"}
    ask = {"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    mock.next(Reply(text="first", headers=cookie))
    relayed = httpx.post(gateway.url + "/api/v1/messages", json={"model": "claude-x-1", **ask})
    assert relayed.status_code == 200 and "set-cookie" not in relayed.headers
    mock.next(Reply(text="first", headers=cookie))
    claude.messages.create(model="opus", **ask)
    oai.chat.completions.create(model="gpt-4o", messages=ask["messages"])
    claude.messages.create(model="opus", **ask, stream=True).close()
    assert len(mock.received) == 4
    assert [r.headers.get("Cookie") for r in mock.received] == [None] * 4


def test_anthropic_passthrough_stream_is_byte_for_byte(gateway, mock):
    body = {
        "model": "claude-x-1",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "stream raw"}],
    }
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "client-key"}
    mock.next(Reply(text="streamed words here", message_id="msg_fixed", chunks=3))
    with httpx.stream("POST", gateway.url + "/api/v1/messages", json=body, headers=headers) as r:
        via_gateway = b"".join(r.iter_raw())
        assert r.headers["content-type"].startswith("text/event-stream")
    mock.next(Reply(text="streamed words here", message_id="msg_fixed", chunks=3))
    direct = httpx.post(mock.base_url + "/v1/messages", json=body, headers=headers).content
    assert via_gateway == direct
    assert via_gateway.count(b"event: content_block_delta") == 3
    # The relayed stream's usage still reaches the access log and the metrics.
    metrics = httpx.get(gateway.url + "/metrics").text
    assert value(metrics, "gateway_tokens_total", sink="anthropic-up", direction="input") == 11
    assert value(metrics, "gateway_tokens_total", sink="anthropic-up", direction="output") == 7


def test_passthrough_with_the_anthropic_sdk_renames_aliases(gateway, mock):
    client = anthropic.Anthropic(base_url=gateway.url + "/api", api_key="client-key", max_retries=0)
    with client.messages.stream(
        model="opus", max_tokens=10, messages=[{"role": "user", "content": "alias"}]
    ) as stream:
        text = stream.get_final_text()
    assert text == "MOCK_REPLY[claude-opus-5-5]: alias"
    assert mock.received[-1].body["model"] == "claude-opus-5-5"


def test_unknown_model_is_forwarded_on_an_http_route(gateway, mock):
    client = anthropic.Anthropic(base_url=gateway.url + "/api", api_key="client-key", max_retries=0)
    message = client.messages.create(
        model="claude-future-9", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.model == "claude-future-9"


def test_openai_passthrough(gateway, mock):
    client = openai.OpenAI(base_url=gateway.url + "/oa/v1", api_key="client-key", max_retries=0)
    answer = client.chat.completions.create(
        model="gpt-mock", messages=[{"role": "user", "content": "direct"}], n=1
    )
    assert answer.choices[0].message.content == "MOCK_REPLY[gpt-mock]: direct"
    sent = mock.received[-1]
    assert sent.path == "/v1/chat/completions" and sent.body["n"] == 1
    assert sent.headers["Authorization"] == "Bearer upstream-secret"


def test_an_openai_passthrough_stream_counts_its_usage_whether_the_client_asks_or_not(
    gateway, mock
):
    client = openai.OpenAI(base_url=gateway.url + "/oa/v1", api_key="client-key", max_retries=0)
    ask = {"model": "gpt-mock", "messages": [{"role": "user", "content": "count me"}]}
    mock.next(Reply(text="counted", input_tokens=300, output_tokens=40, chunks=3))
    unasked = list(client.chat.completions.create(**ask, stream=True))
    # The gateway asked the upstream for the usage; the client, which did not, gets no usage
    # chunk (every chunk it sees has a choice), and the tokens are counted all the same.
    assert mock.received[-1].body["stream_options"] == {"include_usage": True}
    # `gateway try` shows the same body (one function decides it for both).
    sink = gateway.app.ctx.runtimes.current.sinks["openai-up"]
    shown = sink.describe_forward("openai.chat", {**ask, "stream": True}, "gpt-mock")
    assert shown["body"]["stream_options"] == {"include_usage": True}
    assert all(chunk.choices for chunk in unasked) and not any(c.usage for c in unasked)
    assert "".join(c.choices[0].delta.content or "" for c in unasked) == "counted"
    metrics = httpx.get(gateway.url + "/metrics").text
    assert value(metrics, "gateway_tokens_total", sink="openai-up", direction="input") == 300
    assert value(metrics, "gateway_tokens_total", sink="openai-up", direction="output") == 40

    asked = list(
        client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True})
    )
    assert asked[-1].choices == [] and asked[-1].usage.prompt_tokens == 11


def test_other_shapes_on_a_chat_route_are_translated_for_an_openai_upstream(gateway, mock):
    # Found by the fuzz target's seeds: a Responses-shaped body went through untouched, and an
    # OpenAI upstream cannot read `input`.
    body = {"model": "gpt-mock", "input": [{"role": "user", "content": "shaped"}]}
    answer = httpx.post(gateway.url + "/oa/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "MOCK_REPLY[gpt-mock]: shaped"
    sent = mock.received[-1].body
    assert "input" not in sent and sent["messages"] == [{"role": "user", "content": "shaped"}]


# --- errors ---------------------------------------------------------------------------------


def test_upstream_error_keeps_status_in_openai_shape(oai, mock):
    mock.next(Reply(error=(429, "rate_limit_error", "slow down please")))
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 429
    assert caught.value.body["message"] == "slow down please"


def test_the_upstreams_retry_after_reaches_the_client_of_a_translated_route(oai, mock):
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    mock.next(Reply(error=(429, "rate_limit_error", "wait"), headers={"retry-after": "17"}))
    with pytest.raises(openai.RateLimitError) as limited:
        oai.chat.completions.create(**ask)
    assert limited.value.response.headers["retry-after"] == "17"
    # Overloaded: an OpenAI client gets a 429 with the upstream's wait, not the default 1 s.
    mock.next(Reply(error=(529, "overloaded_error", "busy"), headers={"retry-after": "23"}))
    with pytest.raises(openai.RateLimitError) as busy:
        oai.chat.completions.create(**ask)
    assert busy.value.response.headers["retry-after"] == "23"


def test_upstream_500_becomes_502_in_anthropic_shape(claude, mock):
    mock.next(Reply(error=(500, "api_error", "boom")))
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(
            model="gpt-mock", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.body["error"]["type"] == "api_error"
    assert "boom" in caught.value.body["error"]["message"]


def test_upstream_error_midway_is_an_in_band_error(oai, mock):
    mock.when("fail midway", Reply(text="partial answer here", fail_midway=True))
    stream = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "fail midway"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert "Overloaded midway" in str(caught.value)
    assert received[1].choices[0].delta.content == "partial"


def test_unreachable_upstream_is_a_502(serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("UPSTREAM_KEY", "k")
    gateway = serve(write_config(ROUTES))
    client = anthropic.Anthropic(base_url=gateway.url, api_key="x", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert "Cannot reach the upstream 'anthropic-up'" in caught.value.body["error"]["message"]


def test_missing_upstream_key_names_the_variable(mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    gateway = serve(write_config(ROUTES))
    client = anthropic.Anthropic(base_url=gateway.url + "/api", api_key="x", max_retries=0)
    # A 503, not a 401: clients read 401 as "my key is wrong", but the gateway's key is missing.
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 503
    assert caught.value.body["error"]["type"] != "authentication_error"
    assert "set UPSTREAM_KEY" in caught.value.body["error"]["message"]
    assert mock.received == []


# --- models ---------------------------------------------------------------------------------


def test_models_list_in_both_shapes(gateway, oai, claude):
    assert [m.id for m in oai.models.list()] == ["opus", "gpt-4o", "gpt-mock"]
    assert [m.id for m in claude.models.list()] == ["opus", "gpt-4o", "gpt-mock"]


def test_mounted_http_sink_lists_the_upstream_models(gateway, mock):
    client = anthropic.Anthropic(base_url=gateway.url + "/api", api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["claude-opus-5-5", "claude-sonnet-5-5"]
    assert mock.received[-1].headers["x-api-key"] == "upstream-secret"
    oai = openai.OpenAI(base_url=gateway.url + "/api/v1", api_key="x", max_retries=0)
    assert [m.id for m in oai.models.list()] == ["claude-opus-5-5", "claude-sonnet-5-5"]


# --- OpenAI Responses -----------------------------------------------------------------------


def test_responses_api_through_anthropic_upstream(gateway, mock):
    client = openai.OpenAI(base_url=gateway.url + "/api/v1", api_key="x", max_retries=0)
    response = client.responses.create(
        model="opus",
        instructions="Be short.",
        input=[
            {"role": "user", "content": "earlier question"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "earlier answer"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "now this"}]},
        ],
        max_output_tokens=77,
    )
    assert response.output_text == "MOCK_REPLY[claude-opus-5-5]: now this"
    assert response.status == "completed" and response.usage.output_tokens == 7
    sent = mock.messages_requests()[-1].body
    assert sent["system"] == "Be short." and sent["max_tokens"] == 77
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]


def test_responses_stream_with_a_function_call(gateway, mock):
    client = openai.OpenAI(base_url=gateway.url + "/api/v1", api_key="x", max_retries=0)
    mock.when(
        "resp tool",
        Reply(
            text="Let me look.",
            tool_calls=[("get_weather", {"city": "Lima"})],
            stop_reason="tool_use",
        ),
    )
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "w",
        "parameters": WEATHER["parameters"],
    }
    with client.responses.stream(model="opus", input="resp tool", tools=[tool]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert (
        "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Let me look."
    )
    call = final.output[1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Lima"}
    # The call's result goes back as a function_call_output item.
    client.responses.create(
        model="opus",
        input=[
            {"role": "user", "content": "resp tool"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": "get_weather",
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "warm"},
        ],
        tools=[tool],
    )
    turns = mock.messages_requests()[-1].body["messages"]
    assert (
        turns[1]["content"][0]["type"] == "tool_use"
        and turns[1]["content"][0]["id"] == call.call_id
    )
    assert turns[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": call.call_id,
        "content": [{"type": "text", "text": "warm"}],
    }


def test_count_tokens_passes_through(gateway, mock):
    response = httpx.post(
        gateway.url + "/api/v1/messages/count_tokens",
        json={"model": "claude-x", "messages": [{"role": "user", "content": "count me"}]},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 200 and response.json()["input_tokens"] > 0
    assert mock.received[-1].path == "/v1/messages/count_tokens"


def test_abandoned_passthrough_streams_free_their_slot(mock, serve, write_config, monkeypatch):
    import socket
    import time

    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setenv("UPSTREAM_KEY", "k")
    routes = ROUTES.replace(
        "      x-api-key: ${UPSTREAM_KEY}\n",
        "      x-api-key: ${UPSTREAM_KEY}\n    max_concurrency: 1\n    max_queue: 0\n",
        1,
    )
    served = serve(write_config(routes))
    mock.when("slow", Reply(text="s" * 50, chunks=25, delay=0.05))
    body = json.dumps(
        {
            "model": "claude-x",
            "max_tokens": 5,
            "stream": True,
            "messages": [{"role": "user", "content": "slow"}],
        }
    )
    for _ in range(3):  # each hang-up must give the slot back, or the next ones are refused
        with socket.create_connection(("127.0.0.1", served.port)) as sock:
            sock.sendall(
                f"POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
            )
            assert b"200 OK" in sock.recv(65536)
        deadline = time.monotonic() + 5
        while True:
            answer = httpx.post(
                served.url + "/api/v1/messages",
                json={
                    "model": "claude-x",
                    "max_tokens": 5,
                    "messages": [{"role": "user", "content": "quick"}],
                },
            )
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert answer.status_code == 200, answer.text
