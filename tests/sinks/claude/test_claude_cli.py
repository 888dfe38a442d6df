"""The CLI sink with the real `claude` binary against the mock upstream, through the real SDKs.

Fault cases (crash, hang, garbage, huge output) use tests/fake_claude.py.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import anthropic
import httpx
import openai
import pytest
from media import tiny_png
from mock_upstream import Reply
from paths import TESTS
from processes import claude_children, wait_for_no_claude

from gateway.sinks.claude.run_plan import fixed_flags
from gateway.sinks.claude.settings import ClaudeSettings

FAKE_CLAUDE = TESTS / "fake_claude.py"

ROUTES = """
version: 1
sinks:
  claude:
    kind: cli
    {options}
models:
  - name: opus
    aliases: [gpt-4o]
  - name: sonnet
    aliases: [gpt-4o-mini]
  - match: 'claude-*'
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
  - path: /v1/responses
    dialect: openai.responses
access_log:
  enabled: false
"""


@pytest.fixture
def cli_env(mock, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    return mock


@pytest.fixture
def cli_gateway(cli_env, serve, write_config):
    def start(**options):
        lines = (
            "\n    ".join(f"{k}: {json.dumps(v)}" for k, v in options.items()) or "profile: plain"
        )
        return serve(write_config(ROUTES.format(options=lines)))

    yield start
    assert wait_for_no_claude() == [], "a claude process outlived its request"


def clients(gateway):
    return (
        openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0),
        anthropic.Anthropic(base_url=gateway.url, api_key="x", max_retries=0),
    )


def turns_sent(mock):
    """The conversation turns that reached the upstream, without the CLI's own system entries."""
    [request] = mock.messages_requests()
    return [m for m in request.body["messages"] if m["role"] != "system"], request.body


def plain_blocks(messages):
    """Turns with cache hints removed (the CLI marks the last block for prompt caching)."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = [{k: v for k, v in b.items() if k != "cache_control"} for b in content]
        out.append({"role": m["role"], "content": content})
    return out


@pytest.mark.parametrize("bare", [True, False])
def test_multi_turn_reaches_upstream_as_structured_turns(cli_gateway, cli_env, bare):
    gateway = cli_gateway(bare=bare)
    _, claude = clients(gateway)
    message = claude.messages.create(
        model="opus",
        max_tokens=200,
        system="You are terse. SYS-MARK",
        messages=[
            {"role": "user", "content": "first question Ünïcödé ✓"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question"},
        ],
    )
    assert message.content[0].text == "MOCK_REPLY[claude-opus-5-5]: second question"
    assert message.usage.input_tokens == 11 and message.usage.output_tokens == 7
    turns, body = turns_sent(cli_env)
    assert plain_blocks(turns) == [
        {"role": "user", "content": [{"type": "text", "text": "first question Ünïcödé ✓"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "first answer"}]},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]
    system_texts = [block["text"] for block in body["system"]]
    assert system_texts[-1] == "You are terse. SYS-MARK"
    assert not any("Claude Code" in text for text in system_texts)  # its own prompt is replaced
    assert body["tools"] == []
    # Nothing the client did not ask for: no thinking, no effort, and with an API key no
    # billing header; the CLI's identity block stays (it cannot be turned off).
    assert "thinking" not in body and "output_config" not in body
    assert body["max_tokens"] == 200
    assert system_texts[0].startswith("You are a Claude agent") == bare
    assert any(text.startswith("x-anthropic-billing-header") for text in system_texts) != bare
    extra_system = [m for m in body["messages"] if m["role"] == "system"]
    assert extra_system == [] if bare else len(extra_system) == 1


def test_bare_auto_sees_an_api_key_set_in_the_sinks_env():
    # The key may come from the sink's env: as well as the gateway's own environment; without
    # --bare the upstream would get the host's environment turn after the client's turns.
    keyed = ClaudeSettings.from_options({"env": {"ANTHROPIC_API_KEY": "from-the-sink"}})
    assert "bare" in fixed_flags(keyed, environ={})
    assert "bare" in fixed_flags(ClaudeSettings(), environ={"ANTHROPIC_API_KEY": "k"})
    assert "bare" not in fixed_flags(ClaudeSettings(), environ={})
    unset = ClaudeSettings.from_options({"env": {"ANTHROPIC_API_KEY": ""}})
    assert "bare" not in fixed_flags(unset, environ={"ANTHROPIC_API_KEY": "k"})


def test_openai_stream_is_token_by_token_with_usage(cli_gateway, cli_env):
    cli_env.when(
        "stream me",
        Reply(text="alpha beta gamma delta", chunks=4, input_tokens=40, output_tokens=12),
    )
    oai, _ = clients(cli_gateway())
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": "SYS"},
                {"role": "user", "content": "stream me"},
            ],
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.3,
            top_p=0.9,
            stop=["HALT"],
            max_tokens=50,
            user="u-1",
        )
    )
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(deltas) == "alpha beta gamma delta" and len(deltas) == 4
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.prompt_tokens == 40 and chunks[-1].usage.completion_tokens == 12
    _, body = turns_sent(cli_env)
    assert body["model"] == "claude-opus-5-5"  # gpt-4o -> opus -> the CLI's opus
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["stop_sequences"] == ["HALT"] and body["max_tokens"] == 50
    assert body["metadata"] == {"user_id": "u-1"}


def test_anthropic_stream_events_in_order(cli_gateway, cli_env):
    cli_env.when("events", Reply(text="one two three", chunks=3))
    _, claude = clients(cli_gateway())
    with claude.messages.stream(
        model="sonnet", max_tokens=20, messages=[{"role": "user", "content": "events"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("text") == 3
    assert final.content[0].text == "one two three"
    assert final.model == "claude-sonnet-5-5"


@pytest.mark.parametrize(
    ("reply", "finish_reason", "stop_reason"),
    [
        (Reply(text="cut off", stop_reason="max_tokens"), "length", "max_tokens"),
        (
            Reply(text="until HALT", stop_reason="stop_sequence", stop_sequence="HALT"),
            "stop",
            "stop_sequence",
        ),
    ],
)
def test_stop_reasons(cli_gateway, cli_env, reply, finish_reason, stop_reason):
    oai, claude = clients(cli_gateway())
    cli_env.next(reply)
    answer = oai.chat.completions.create(model="opus", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].finish_reason == finish_reason
    cli_env.next(reply)
    message = claude.messages.create(
        model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    assert message.stop_reason == stop_reason
    # After max_tokens the CLI continues on its own; the gateway answers with the first
    # message only (what the client asked for) and stops the process right there.
    assert message.content[0].text == reply.text


def test_full_model_ids_pass_unchanged(cli_gateway, cli_env):
    _, claude = clients(cli_gateway())
    claude.messages.create(
        model="claude-opus-4-1-20250805", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    assert cli_env.messages_requests()[0].body["model"] == "claude-opus-4-1-20250805"


def test_images_and_tool_history_arrive_unchanged(cli_gateway, cli_env):
    png = base64.b64encode(tiny_png()).decode()
    _, claude = clients(cli_gateway())
    conversation = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": png},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [{"type": "text", "text": "18C"}],
                },
                {"type": "text", "text": "and now?"},
            ],
        },
    ]
    claude.messages.create(model="opus", max_tokens=20, messages=conversation)
    turns, _ = turns_sent(cli_env)
    assert plain_blocks(turns) == conversation


def test_errors_from_upstream_keep_their_meaning(cli_gateway, cli_env):
    oai, claude = clients(cli_gateway())
    cli_env.next(Reply(error=(429, "rate_limit_error", "slow down MOCK429")))
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="opus", messages=[{"role": "user", "content": "x"}])
    assert "MOCK429" in caught.value.body["message"]
    cli_env.next(Reply(error=(400, "invalid_request_error", "bad thing MOCK400")))
    with pytest.raises(anthropic.BadRequestError) as caught_a:
        claude.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}], stream=True
        )
    assert "MOCK400" in caught_a.value.body["error"]["message"]
    cli_env.next(Reply(error=(401, "authentication_error", "invalid x-api-key")))
    with pytest.raises(anthropic.APIStatusError) as caught_auth:
        claude.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert caught_auth.value.status_code == 503
    assert "claude auth login" in caught_auth.value.body["error"]["message"]
    # The API's refusal of an oversized prompt (the CLI says "Prompt is too long") keeps the
    # code clients trim their history on.
    too_long = "prompt is too long: 210000 tokens > 200000 maximum"
    cli_env.next(Reply(error=(400, "invalid_request_error", too_long)))
    with pytest.raises(openai.BadRequestError) as caught_long:
        oai.chat.completions.create(model="opus", messages=[{"role": "user", "content": "x"}])
    assert caught_long.value.code == "context_length_exceeded"


def test_invalid_model_name_never_reaches_argv(cli_gateway, cli_env):
    _, claude = clients(cli_gateway())
    for name in ("--dangerously-skip-permissions", "opus; rm -rf /", "a b"):
        with pytest.raises((anthropic.BadRequestError, anthropic.NotFoundError)):
            claude.messages.create(
                model=name, max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
    assert cli_env.received == []


def test_options_the_cli_cannot_carry_are_refused(cli_gateway, cli_env):
    _, claude = clients(cli_gateway())
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="opus",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"container": "c1"},
        )
    assert "container" in caught.value.body["error"]["message"]
    # Parameters travel in one environment value, which Linux caps at 128 KiB: a clear 400
    # rather than a process that cannot start (a 503 the SDKs would retry).
    with pytest.raises(anthropic.BadRequestError) as too_big:
        claude.messages.create(
            model="opus",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            stop_sequences=["s" * 70_000, "t" * 70_000],
        )
    assert "the largest is Claude's 'stop_sequences'" in too_big.value.body["error"]["message"]
    assert cli_env.received == []
    # Thinking is something the CLI carries: it reaches the upstream as asked.
    claude.messages.create(
        model="opus",
        max_tokens=2000,
        messages=[{"role": "user", "content": "x"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert cli_env.messages_requests()[0].body["thinking"] == {
        "type": "enabled",
        "budget_tokens": 1024,
    }


def test_status_reports_the_binary(cli_gateway):
    status = httpx.get(cli_gateway().url + "/status").json()
    binary = status["sinks"]["claude"]["binary"]
    assert binary["found"] is True and binary["version"] == "2.1.330"


# --- lifecycle ------------------------------------------------------------------------------


def test_client_disconnect_mid_stream_kills_the_process(cli_gateway, cli_env, run_dirs):
    cli_env.when("slow", Reply(text="x" * 200, chunks=100, delay=0.05))
    gateway = cli_gateway()
    body = json.dumps(
        {
            "model": "opus",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "slow"}],
        }
    )
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(
            f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        received = b""
        while b"content_block_delta" not in received:
            received += sock.recv(65536)
        assert len(claude_children()) == 1
        assert run_dirs.count() == 1
    assert wait_for_no_claude(10) == []
    assert run_dirs.wait_for(0) == 0


def test_timeout_kills_the_process(cli_gateway, cli_env, run_dirs):
    cli_env.when("very slow", Reply(text="y" * 100, chunks=100, delay=0.2))
    _, claude = clients(cli_gateway(timeout=2))
    started = time.monotonic()
    with (
        pytest.raises(anthropic.APIError) as caught,
        claude.messages.stream(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "very slow"}]
        ) as stream,
    ):
        for _ in stream:
            pass
    assert "did not finish within 2 s" in str(caught.value)
    assert time.monotonic() - started < 10
    assert wait_for_no_claude(5) == []
    assert len(run_dirs.areas()) == 2  # the sink's area and its lock: counted in the right place
    assert run_dirs.wait_for(0) == 0


def test_concurrency_limit_answers_or_refuses_every_request(cli_gateway, cli_env):
    cli_env.when("busy", Reply(text="z" * 20, chunks=10, delay=0.1))
    gateway = cli_gateway(max_concurrency=1, max_queue=1, queue_timeout=30)
    results = []

    def call(i):
        response = httpx.post(
            gateway.url + "/v1/chat/completions",
            json={"model": "opus", "messages": [{"role": "user", "content": f"busy {i}"}]},
            timeout=60,
        )
        results.append((response.status_code, response.headers.get("retry-after"), response.json()))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(60)
    statuses = sorted(status for status, _, _ in results)
    assert len(results) == 4
    assert statuses.count(200) == 2 and statuses.count(429) == 2
    refused = [r for r in results if r[0] == 429]
    assert all(
        retry_after and body["error"]["type"] == "rate_limit_error"
        for _, retry_after, body in refused
    )


# --- faults (fake binary) -------------------------------------------------------------------


@pytest.fixture
def fake_gateway(cli_gateway):
    def start(mode, **options):
        return cli_gateway(binary=str(FAKE_CLAUDE), env={"FAKE_CLAUDE_MODE": mode}, **options)

    return start


def test_crash_is_a_502_with_stderr(fake_gateway):
    _, claude = clients(fake_gateway("crash"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    message = caught.value.body["error"]["message"]
    assert "exited with code 3" in message and "crashed on purpose" in message


def test_hang_times_out(fake_gateway, run_dirs):
    oai, _ = clients(fake_gateway("hang", timeout=1))
    with pytest.raises(openai.APIError) as caught:
        list(
            oai.chat.completions.create(
                model="opus", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
    assert "did not finish within 1 s" in str(caught.value)
    assert len(run_dirs.areas()) == 2 and run_dirs.wait_for(0) == 0


def test_garbage_output_is_a_clear_error(fake_gateway):
    _, claude = clients(fake_gateway("garbage"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert "not JSON: Warning: this line is not JSON" in caught.value.body["error"]["message"]


def test_huge_lines_and_split_characters(fake_gateway):
    oai, _ = clients(fake_gateway("huge"))
    answer = oai.chat.completions.create(model="opus", messages=[{"role": "user", "content": "x"}])
    text = answer.choices[0].message.content
    assert len(text) > 1_600_000 and set(text) == {"é", "€"}


def test_exit_without_result_mid_stream_is_an_in_band_error(fake_gateway):
    _, claude = clients(fake_gateway("noresult"))
    events = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        claude.messages.stream(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        for event in stream:
            events.append(event.type)
    assert "stopped before its answer was complete" in str(caught.value.body)
    assert "text" in events


def test_not_logged_in_says_what_to_do(fake_gateway):
    oai, _ = clients(fake_gateway("notloggedin"))
    with pytest.raises(openai.APIStatusError) as caught:
        oai.chat.completions.create(model="opus", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 503
    assert "claude auth login" in caught.value.body["message"]


def test_stderr_noise_is_ignored(fake_gateway):
    oai, _ = clients(fake_gateway("stderr-noise"))
    answer = oai.chat.completions.create(model="opus", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].message.content == "fine"


def test_missing_binary_says_how_to_install(cli_gateway, tmp_path):
    oai, _ = clients(cli_gateway(binary=str(tmp_path / "no-such-claude")))
    with pytest.raises(openai.APIStatusError) as caught:
        oai.chat.completions.create(model="opus", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 503
    assert "pip install claude-agent-sdk" in caught.value.body["message"]


def test_multi_megabyte_prompt(cli_gateway, cli_env):
    big = "lorem ipsum " * 200_000  # 2.4 MB; the CLI refuses more than ~3 MB of text as too long
    _, claude = clients(cli_gateway())
    message = claude.messages.create(
        model="opus", max_tokens=5, messages=[{"role": "user", "content": big + "END"}]
    )
    assert message.content[0].text.endswith("END")
    turns, _ = turns_sent(cli_env)
    assert turns[0]["content"][0]["text"] == big + "END"


def test_too_long_a_prompt_is_a_400(cli_gateway, cli_env):
    _, claude = clients(cli_gateway())
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "word " * 1_000_000}]
        )
    assert "context window" in caught.value.body["error"]["message"]


# --- client tools ---------------------------------------------------------------------------

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_client_tools_are_offered_and_never_run(cli_gateway, cli_env):
    cli_env.when(
        "weather?",
        Reply(
            text="Let me check.",
            tool_calls=[("get_weather", {"city": "Paris"})],
            stop_reason="tool_use",
        ),
    )
    oai, claude = clients(cli_gateway())
    answer = oai.chat.completions.create(
        model="opus",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": WEATHER_TOOL["description"],
                    "parameters": WEATHER_TOOL["input_schema"],
                },
            }
        ],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris"}
    [request] = cli_env.messages_requests()
    assert [t["name"] for t in request.body["tools"]] == ["get_weather"]
    assert request.body["tools"][0]["input_schema"] == WEATHER_TOOL["input_schema"]
    assert request.body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert "thinking" not in request.body  # a forced tool choice and thinking exclude each other

    # Streaming, through the Anthropic client: the tool call arrives as input_json deltas.
    cli_env.reset()
    cli_env.when(
        "weather?", Reply(tool_calls=[("get_weather", {"city": "Oslo"})], stop_reason="tool_use")
    )
    with claude.messages.stream(
        model="opus",
        max_tokens=100,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "weather?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"city": "Oslo"}


def test_tool_results_as_the_last_turn_arrive_exactly(cli_gateway, cli_env):
    """The usual shape of a tool loop: the client ran the tools and sends their results."""
    conversation = [
        {"role": "user", "content": [{"type": "text", "text": "u1 first"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a1"}]},
        {"role": "user", "content": [{"type": "text", "text": "u2 weather in two cities?"}]},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_t1",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_t1",
                    "content": [{"type": "text", "text": "5C"}],
                }
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "And Rome:"},
                {
                    "type": "tool_use",
                    "id": "toolu_t2",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_t2",
                    "content": [{"type": "text", "text": "22C"}],
                    "is_error": True,
                }
            ],
        },
    ]
    _, claude = clients(cli_gateway(prompt_caching=False))
    message = claude.messages.create(
        model="opus", max_tokens=50, tools=[WEATHER_TOOL], messages=conversation
    )
    assert message.content[0].text.startswith("MOCK_REPLY[claude-opus-5-5]")
    [request] = cli_env.messages_requests()
    assert request.body["messages"] == conversation  # verbatim: no cache hints, no extra turns


def test_a_conversation_of_only_tool_turns(cli_gateway, cli_env):
    conversation = [
        {"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [{"type": "text", "text": "18C"}],
                }
            ],
        },
    ]
    oai, _ = clients(cli_gateway(prompt_caching=False))
    oai.chat.completions.create(
        model="opus",
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "toolu_01",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"},
        ],
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": WEATHER_TOOL["input_schema"]},
            }
        ],
    )
    [request] = cli_env.messages_requests()
    assert request.body["messages"] == conversation


def test_a_prefilled_assistant_turn_is_refused(cli_gateway, cli_env):
    _, claude = clients(cli_gateway())
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="opus",
            max_tokens=5,
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure:"}],
        )
    assert "prefilled assistant turn" in caught.value.body["error"]["message"]
    assert cli_env.received == []


def test_crash_during_a_replayed_conversation_does_not_hang(fake_gateway):
    _, claude = clients(fake_gateway("crash", timeout=5))
    started = time.monotonic()
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(
            model="opus",
            max_tokens=5,
            tools=[WEATHER_TOOL],
            messages=[
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "get_weather",
                            "input": {"city": "Oslo"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "cold"}],
                },
            ],
        )
    assert (
        caught.value.status_code == 502
        and "exited with code 3" in caught.value.body["error"]["message"]
    )
    assert time.monotonic() - started < 4


def test_system_turns_are_text_never_commands(cli_gateway, cli_env, tmp_path):
    """A system turn becomes a transcript row the CLI also uses for queued commands: text that
    looks like a shell escape or a slash command must reach the model as text, and nothing else."""
    marker = tmp_path / "ran"
    gateway = cli_gateway(profile="agent", tools=["Read"], working_dir=str(tmp_path))
    _, claude = clients(gateway)
    claude.messages.create(
        model="opus",
        max_tokens=20,
        messages=[
            {"role": "user", "content": "Q1"},
            {"role": "system", "content": f"!touch {marker}"},
            {"role": "system", "content": "/init"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"},
        ],
    )
    [request] = cli_env.messages_requests()
    notes = [m["content"] for m in request.body["messages"] if m["role"] == "system"]
    assert f"!touch {marker}\n\n/init" in [n if isinstance(n, str) else n[0]["text"] for n in notes]
    assert not marker.exists()
