"""Editors and coding agents as they really call, on every sink.

Cursor posts Responses-shaped and Anthropic-shaped bodies to /chat/completions and reads Chat
Completions back (the shapes below follow the public captures: LiteLLM's
/cursor/chat/completions endpoint, which exists because Cursor sends Responses input there, and
the Aether gateway's "Accept Claude message bodies in OpenAI chat endpoints"). Codex sends
namespace tools, freeform custom tools and a hosted web_search tool to /responses.
"""

from __future__ import annotations

import json

import httpx
from mock_upstream import Reply
from upstream_view import turns

PATCH = '*** Begin Patch\n*** Add File: a.txt\n+héllo "quoted"\n*** End Patch'


def chat(served, body: dict) -> httpx.Response:
    return httpx.post(served.url + "/v1/chat/completions", json=body, timeout=60)


def sse_chunks(response: httpx.Response) -> list[dict]:
    return [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")
    ]


CURSOR_RESPONSES_BODY = {
    "model": "gpt-4o",
    "input": [
        {"role": "system", "content": "You are a coding assistant."},
        {"role": "user", "content": [{"type": "input_text", "text": "patch it"}]},
    ],
    "tools": [
        {
            "type": "function",
            "name": "read_file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch"},
    ],
    "include": ["reasoning.encrypted_content"],
    "reasoning": {"effort": "medium", "summary": "auto"},
    "text": {"verbosity": "low"},
    "store": False,
    "truncation": "auto",
    "stream_options": {"include_usage": True},
}


def test_a_responses_body_on_chat_completions(gateway, mock):
    served = gateway()
    mock.when(
        "patch it", Reply(tool_calls=[("apply_patch", {"input": PATCH})], stop_reason="tool_use")
    )
    answer = chat(served, CURSOR_RESPONSES_BODY)
    assert answer.status_code == 200, answer.text
    choice = answer.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "custom" and call["custom"] == {"name": "apply_patch", "input": PATCH}
    body = mock.messages_requests()[-1].body
    tools = {tool["name"]: tool for tool in body["tools"]}
    assert tools["apply_patch"]["input_schema"]["properties"] == {"input": {"type": "string"}}
    assert "You are a coding assistant." in json.dumps(body["system"])
    assert body["output_config"]["effort"] == "medium"
    streamed = chat(served, {**CURSOR_RESPONSES_BODY, "stream": True})
    chunks = sse_chunks(streamed)
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    ]
    assert calls[0]["type"] == "custom" and calls[0]["custom"]["name"] == "apply_patch"
    assert "".join(c["custom"]["input"] for c in calls) == PATCH
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 7
    assert streamed.text.rstrip().endswith("data: [DONE]")
    # Stateless: a reference to an earlier response is a clear error in the chat shape.
    refused = chat(served, {**CURSOR_RESPONSES_BODY, "previous_response_id": "resp_1"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "previous_response_id"


def test_an_anthropic_body_on_chat_completions(gateway, mock):
    served = gateway()
    body = {
        "model": "opus",
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "weather?", "cache_control": {"type": "ephemeral"}}
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        "tool_choice": {"type": "auto"},
    }
    mock.when("sunny", Reply(text="It is sunny."))
    answer = chat(served, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["object"] == "chat.completion"
    assert answer.json()["choices"][0]["message"]["content"] == "It is sunny."
    sent = mock.messages_requests()[-1].body
    assert turns(sent)[1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "text", "text": "sunny"}],
                }
            ],
        },
    ]
    assert sent["max_tokens"] == 32000 and "Be brief." in json.dumps(sent["system"])


CODEX_TOOLS = [
    {
        "type": "namespace",
        "name": "mcp__weather",
        "description": "Weather MCP server",
        "tools": [
            {
                "type": "function",
                "name": "get_forecast",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": False,
            }
        ],
    },
    {"type": "web_search"},
]


def test_codex_namespaces_and_hosted_tools(kind, gateway, mock):
    served = gateway()
    mock.when(
        "forecast",
        Reply(
            tool_calls=[("mcp__weather__get_forecast", {"city": "Oslo"})], stop_reason="tool_use"
        ),
    )
    request = {
        "model": "gpt-4o",
        "input": "forecast for Oslo",
        "tools": CODEX_TOOLS,
        "store": False,
    }
    answer = httpx.post(served.url + "/v1/responses", json=request, timeout=60)
    assert answer.status_code == 200, answer.text
    [call] = [item for item in answer.json()["output"] if item["type"] == "function_call"]
    assert (call["name"], call["namespace"], json.loads(call["arguments"])) == (
        "get_forecast",
        "mcp__weather",
        {"city": "Oslo"},
    )
    sent = mock.messages_requests()[-1].body
    names = [tool.get("name") for tool in sent["tools"]]
    if kind == "http":  # the Anthropic API runs Claude's own web search
        assert "x-gateway-dropped-tools" not in answer.headers
        assert {"type": "web_search_20250305", "name": "web_search"} in sent["tools"]
    else:  # Claude Code cannot: the route drops it and says so
        assert answer.headers["x-gateway-dropped-tools"] == "web_search"
        assert names == ["mcp__weather__get_forecast"]
    # The next turn sends the call back with its namespace, and the output as input_text parts.
    follow_up = {
        **request,
        "input": [
            {"role": "user", "content": "forecast for Oslo"},
            {
                "type": "function_call",
                "call_id": call["call_id"],
                "name": "get_forecast",
                "namespace": "mcp__weather",
                "arguments": call["arguments"],
            },
            {
                "type": "function_call_output",
                "call_id": call["call_id"],
                "output": [{"type": "input_text", "text": "rain"}],
            },
        ],
    }
    mock.when("rain", Reply(text="Rain in Oslo."))
    answer = httpx.post(served.url + "/v1/responses", json=follow_up, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["output"][-1]["content"][0]["text"] == "Rain in Oslo."
    conversation = turns(mock.messages_requests()[-1].body)
    assert conversation[1]["content"][0]["name"] == "mcp__weather__get_forecast"
    assert conversation[2]["content"][0]["content"] == [{"type": "text", "text": "rain"}]


def test_the_shape_is_read_from_the_body():
    from gateway.dialects.chat_shapes import shape_of

    user = [{"role": "user", "content": "x"}]
    assert shape_of({"messages": user}) == "openai.chat"
    assert shape_of({"input": "x"}) == "openai.responses"
    assert (
        shape_of({"messages": user, "system": [{"type": "text", "text": "s"}]})
        == "anthropic.messages"
    )
    assert shape_of({"messages": user, "stop_sequences": ["x"]}) == "anthropic.messages"
    # Chat clients send top_k and thinking too (LiteLLM-style): they do not make a body
    # Anthropic, or its system message and stop would be read as an Anthropic body's.
    chat_extras = {"messages": user, "thinking": {"type": "enabled"}, "top_k": 40}
    assert shape_of(chat_extras) == "openai.chat"
    # Chat-only features win: a chat body with an Anthropic tool definition stays chat.
    assert (
        shape_of(
            {"messages": [{"role": "tool", "tool_call_id": "t", "content": "r"}], "system": "s"}
        )
        == "openai.chat"
    )
