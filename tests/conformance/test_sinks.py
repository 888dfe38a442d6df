"""One behaviour for every sink: each test runs against the http, cli and sdk sinks."""

from __future__ import annotations

import json
import socket
import threading
import time

import anthropic
import httpx
import openai
import pytest
from mock_upstream import Reply
from processes import wait_for_no_claude
from upstream_view import system_text, turns, upstream_model


def test_plain_text(kind, clients, mock):
    oai, claude = clients
    mock.when("plain", Reply(text="a plain answer", chunks=3))
    answer = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "plain"}]
    )
    assert answer.choices[0].message.content == "a plain answer"
    message = claude.messages.create(
        model="opus", max_tokens=20, messages=[{"role": "user", "content": "plain"}]
    )
    assert message.content[0].text == "a plain answer"
    assert [r.body["model"] for r in mock.messages_requests()] == [upstream_model(kind, "opus")] * 2


def test_streaming_arrives_in_several_chunks(kind, clients, mock):
    oai, claude = clients
    mock.when("stream", Reply(text="one two three four five", chunks=5))
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "stream"}], stream=True
        )
    )
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(deltas) == 5 and "".join(deltas) == "one two three four five"
    with claude.messages.stream(
        model="sonnet", max_tokens=20, messages=[{"role": "user", "content": "stream"}]
    ) as stream:
        pieces = list(stream.text_stream)
    assert len(pieces) == 5 and "".join(pieces) == "one two three four five"


def test_system_prompt_reaches_the_upstream(clients, mock):
    oai, claude = clients
    oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "SYSTEM-ONE"}, {"role": "user", "content": "x"}],
    )
    claude.messages.create(
        model="opus", max_tokens=5, system="SYSTEM-TWO", messages=[{"role": "user", "content": "x"}]
    )
    first, second = mock.messages_requests()
    assert "SYSTEM-ONE" in system_text(first.body) and "SYSTEM-TWO" in system_text(second.body)


def test_multi_turn_reaches_the_upstream_as_turns(clients, mock):
    oai, _ = clients
    oai.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "A2"},
            {"role": "user", "content": "Q3"},
        ],
    )
    [request] = mock.messages_requests()
    assert turns(request.body) == [
        {"role": role, "content": [{"type": "text", "text": text}]}
        for role, text in [
            ("user", "Q1"),
            ("assistant", "A1"),
            ("user", "Q2"),
            ("assistant", "A2"),
            ("user", "Q3"),
        ]
    ]


def test_a_conversation_continued_turn_by_turn(kind, gateway, mock):
    """Each request is the one before, its answer and a new question, as chat clients send
    them (with live conversations, the process that answered is the one to go on)."""
    served = gateway()
    oai = openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0)
    claude = anthropic.Anthropic(base_url=served.url, api_key="x", max_retries=0)
    chat: list = []
    responses: list = []
    messages: list = []
    for question in ("Q1", "Q2"):
        chat.append({"role": "user", "content": f"chat {question}"})
        answer = oai.chat.completions.create(model="gpt-4o", messages=chat)
        assert answer.choices[0].message.content.endswith(f"chat {question}")
        chat.append({"role": "assistant", "content": answer.choices[0].message.content})
        responses.append({"role": "user", "content": f"responses {question}"})
        response = oai.responses.create(model="gpt-4o", input=responses)
        assert response.output_text.endswith(f"responses {question}")
        responses += [item.model_dump(exclude_none=True) for item in response.output]
        messages.append({"role": "user", "content": f"messages {question}"})
        with claude.messages.stream(model="opus", max_tokens=50, messages=messages) as stream:
            message = stream.get_final_message()
        assert message.content[0].text.endswith(f"messages {question}")
        messages.append({"role": "assistant", "content": message.content[0].text})
    last = {
        turns(r.body)[0]["content"][0]["text"].split()[0]: r.body for r in mock.messages_requests()
    }
    for name in ("chat", "responses", "messages"):  # each one's last request, as sent upstream
        texts = [t["content"][0]["text"] for t in turns(last[name])]
        assert texts == [f"{name} Q1", texts[1], f"{name} Q2"] and texts[1].endswith("Q1")
    if kind == "cli-live":  # the second turn of each: the process that answered the first
        live = httpx.get(served.url + "/status", timeout=10).json()["sinks"]["backend"]["live"]
        assert (live["hits"], live["misses"]) == (3, {"new": 3})


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"), [("end_turn", "stop"), ("max_tokens", "length")]
)
def test_stop_reasons(clients, mock, stop_reason, finish_reason):
    oai, claude = clients
    mock.when("stop", Reply(text="words", stop_reason=stop_reason))
    answer = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "stop"}]
    )
    assert answer.choices[0].finish_reason == finish_reason
    with claude.messages.stream(
        model="opus", max_tokens=5, messages=[{"role": "user", "content": "stop"}]
    ) as stream:
        assert stream.get_final_message().stop_reason == stop_reason


def test_usage(clients, mock):
    oai, claude = clients
    mock.when(
        "usage",
        Reply(text="counted", input_tokens=123, output_tokens=45, cache_read_input_tokens=6),
    )
    answer = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "usage"}]
    )
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (129, 45)
    assert answer.usage.prompt_tokens_details.cached_tokens == 6
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "usage"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage.completion_tokens == 45
    with claude.messages.stream(
        model="opus", max_tokens=5, messages=[{"role": "user", "content": "usage"}]
    ) as stream:
        usage = stream.get_final_message().usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (123, 45, 6)


def test_unknown_model(kind, clients, mock):
    oai, claude = clients
    if kind == "http":  # an HTTP upstream decides for itself which names it knows
        claude.messages.create(
            model="claude-unheard-of", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
        assert mock.messages_requests()[0].body["model"] == "claude-unheard-of"
        return
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["code"] == "model_not_found"
    assert "Available models: opus, gpt-4o, sonnet" in caught.value.body["message"]
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(
            model="gpt-9", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert mock.received == []


def test_upstream_error(clients, mock):
    oai, claude = clients
    mock.when("fail", Reply(error=(529, "overloaded_error", "MOCK-OVERLOADED")))
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "fail"}]
        )
    assert caught.value.status_code == 529 and "MOCK-OVERLOADED" in str(caught.value.body)
    with pytest.raises(openai.RateLimitError):
        list(
            oai.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "fail"}], stream=True
            )
        )


def test_client_disconnect_mid_stream(kind, gateway, mock, caplog):
    served = gateway()
    mock.when("long", Reply(text="z" * 300, chunks=150, delay=0.03))
    body = json.dumps(
        {
            "model": "opus",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "long"}],
        }
    )
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(
            f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        received = b""
        while b"content_block_delta" not in received:
            received += sock.recv(65536)
    assert wait_for_no_claude(10, served) == []
    # Abandoning an SDK's iterator must not leave anyio or asyncio complaining in the log.
    noisy = [
        r.getMessage()
        for r in caplog.records
        if r.levelname in ("ERROR", "CRITICAL")
        and r.name in ("asyncio", "gateway", "gateway.sinks")
    ]
    assert noisy == []
    # The gateway serves the next request normally.
    answer = httpx.post(
        served.url + "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "next"}]},
        timeout=60,
    )
    assert answer.status_code == 200


def test_concurrency_overflow_is_answered_not_lost(kind, gateway, mock):
    served = gateway(concurrency=1)
    mock.when("slow", Reply(text="s" * 40, chunks=20, delay=0.1))
    results: list[tuple[int, dict]] = []

    def call(i: int) -> None:
        response = httpx.post(
            served.url + "/v1/messages",
            json={
                "model": "opus",
                "max_tokens": 5,
                "stream": True,
                "messages": [{"role": "user", "content": f"slow {i}"}],
            },
            headers={"anthropic-version": "2023-06-01"},
            timeout=60,
        )
        ok = response.status_code == 200
        results.append((response.status_code, {"text": response.text} if ok else response.json()))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join(60)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 529, 529]
    assert all(
        body["error"]["type"] == "overloaded_error" for status, body in results if status == 529
    )
    assert all("event: message_stop" in body["text"] for status, body in results if status == 200)


def test_an_upstream_failing_midway_ends_the_stream_with_an_error(gateway, mock):
    """Never a truncated answer dressed as a complete one (the CLI, after a broken stream,
    answers again without streaming: the part already relayed cannot be continued)."""
    served = gateway()
    mock.when("midway", Reply(text="partial answer here", chunks=5, fail_midway=True))
    anthropic_stream = httpx.post(
        served.url + "/v1/messages",
        json={
            "model": "opus",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "midway"}],
        },
        headers={"anthropic-version": "2023-06-01"},
        timeout=60,
    ).text
    assert "event: error" in anthropic_stream and "event: message_stop" not in anthropic_stream
    chat_stream = httpx.post(
        served.url + "/v1/chat/completions",
        json={
            "model": "gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "midway"}],
        },
        timeout=60,
    ).text
    chunks = [
        json.loads(line[6:]) for line in chat_stream.splitlines() if line.startswith("data: {")
    ]
    assert "error" in chunks[-1]
    assert not any(c.get("choices") and c["choices"][0]["finish_reason"] for c in chunks)


def test_an_upstream_stream_dropped_early_gives_the_whole_answer_or_an_error(kind, clients, mock):
    """The CLI asks again without streaming when the upstream's connection drops before its
    first event; that whole answer reaches the client. The HTTP sink has nothing to relay and
    answers with an error, as does the predecessor SDK (its messages carry no id, so
    the whole one cannot be told from a streamed one). Never a truncated answer dressed as a
    complete one."""
    oai, _ = clients
    mock.when("dropped", Reply(text="the whole answer, after all", chunks=4, drop_at_start=True))
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "dropped"}], "stream": True}
    if kind in ("http", "sdk-legacy"):
        with pytest.raises(openai.APIError):
            list(oai.chat.completions.create(**ask))
        return
    chunks = list(oai.chat.completions.create(**ask))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert (text, finish) == ("the whole answer, after all", ["stop"])


def test_a_tool_called_without_arguments_gets_an_empty_object(clients, mock):
    """The API streams such a call as one empty input fragment; clients parse the arguments
    as JSON, so they get ``{}``, never ``""`` (a JSON error, or a 500 when the gateway built
    a whole answer from the stream)."""
    oai, claude = clients
    mock.when("the time?", Reply(tool_calls=[("now", {})], stop_reason="tool_use"))
    schema = {"type": "object", "properties": {}}
    function = {"name": "now", "description": "The time", "parameters": schema}
    ask = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "the time?"}],
        "tools": [{"type": "function", "function": function}],
    }
    whole = oai.chat.completions.create(**ask)
    assert whole.choices[0].message.tool_calls[0].function.arguments == "{}"
    streamed = "".join(
        call.function.arguments or ""
        for chunk in oai.chat.completions.create(**ask, stream=True)
        if chunk.choices and chunk.choices[0].delta.tool_calls
        for call in chunk.choices[0].delta.tool_calls
    )
    assert streamed == "{}"
    message = claude.messages.create(
        model="opus",
        max_tokens=50,
        messages=[{"role": "user", "content": "the time?"}],
        tools=[{"name": "now", "description": "The time", "input_schema": schema}],
    )
    assert [(b.type, b.input) for b in message.content] == [("tool_use", {})]
