"""/mcp through the official mcp client (streamable_http_client + ClientSession) and through
Claude Code itself (`claude -p --mcp-config`), the custom routes' sink being the mock upstream."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mock_upstream import Reply
from paths import REPO
from server import ServedApp

from gateway.app import create_app
from gateway.config import ConfigError, load_config
from gateway.sinks.claude.binary import locate
from gateway.teams.keys import hash_key, new_key

TOKEN = "mcp-test-token"
AUTH = {"x-api-key": TOKEN}
CI_KEY = new_key()
ROUTES = """
version: 1
default_sink: api
auth:
  token: {token}
  keys:
    - {{name: ci, hash: "{ci_hash}", models: [haiku], routes: [/mcp, /raw]}}
access_log:
  path: {log}
sinks:
  api:
    kind: http
    dialect: anthropic.messages
    base_url: {mock}
    headers:
      x-api-key: mock-key
models:
  - match: '*'
routes:
  - path: /mcp
    dialect: mcp
  - path: /api/chat
    dialect: custom
    model: sonnet
    description: Ask Claude
    transforms:
      request: [chat_request]
      response: [chat_response]
  - path: /api/analyze
    dialect: custom
    name: analyze_text
    model: opus
    transforms:
      request: [analyze_request]
      response: [analyze_response]
  # No transforms: the neutral request in, the neutral response out.
  - path: /raw
    dialect: custom
    model: haiku
transforms:
  chat_request: {{template: chat_request.j2, input_schema: api_chat.request.json, output_schema: ir.request.schema.json}}
  chat_response: {{template: chat_response.j2, input_schema: ir.response.schema.json, output_schema: api_chat.response.json}}
  analyze_request: {{template: analyze_request.j2, input_schema: api_analyze.request.json, output_schema: ir.request.schema.json}}
  analyze_response: {{template: analyze_response.j2, input_schema: ir.response.schema.json, output_schema: api_analyze.response.json}}
"""


class Gateway:
    def __init__(self, served: ServedApp, config: Path) -> None:
        self.served, self.config = served, config
        self.url = served.url + "/mcp"

    def reload(self) -> None:
        assert self.served.call(self.served.app.ctx.reloader.reload("test"))


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory) -> Iterator[Gateway]:
    directory = tmp_path_factory.mktemp("mcp")
    for folder in ("transforms", "schemas"):
        shutil.copytree(REPO / folder, directory / folder)
    config = directory / "routes.yaml"
    log = directory / "access.log"
    config.write_text(
        ROUTES.format(token=TOKEN, ci_hash=hash_key(CI_KEY), log=log, mock=upstream.base_url)
    )
    app = create_app(load_config(config))
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    yield Gateway(served, config)
    served.stop()


def schema_file(name: str) -> dict:
    return json.loads((REPO / "schemas" / name).read_text())


async def _session_run(url: str, headers: dict[str, str], work) -> object:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await work(session)


def with_session(gateway: Gateway, work, headers: dict[str, str] = AUTH):
    return asyncio.run(_session_run(gateway.url, headers, work))


def test_tools_are_the_custom_routes_with_their_schemas(gateway):
    listed = with_session(gateway, lambda session: session.list_tools())
    tools = {tool.name: tool for tool in listed.tools}
    assert sorted(tools) == ["analyze_text", "chat", "raw"]
    chat = tools["chat"]
    assert chat.description == "Ask Claude"
    expected = schema_file("api_chat.request.json")
    del expected["properties"]["stream"]  # a tool call is answered whole
    assert chat.input_schema == expected
    assert chat.output_schema == schema_file("api_chat.response.json")
    assert tools["analyze_text"].input_schema["required"] == ["content"]
    assert tools["analyze_text"].description == "POST /api/analyze of the gateway"
    # Without transforms the tool takes the neutral request and has no declared output.
    assert "messages" in tools["raw"].input_schema["properties"]
    assert tools["raw"].output_schema is None


def test_each_tool_answers_through_its_route(gateway, mock):
    async def call_all(session):
        return (
            await session.call_tool("chat", {"prompt": "CHAT-Q", "system": "Be brief."}),
            await session.call_tool("analyze_text", {"content": "ANALYZE-ME"}),
            await session.call_tool(
                "raw", {"messages": [{"role": "user", "content": "RAW-Q"}], "max_tokens": 50}
            ),
        )

    chat, analyze, raw = with_session(gateway, call_all)
    bodies = [r.body for r in mock.messages_requests()]
    assert [b["model"] for b in bodies] == ["sonnet", "opus", "haiku"]
    assert bodies[0]["system"] == "Be brief." and "ANALYZE-ME" in json.dumps(bodies[1])
    assert not chat.is_error and chat.structured_content == {
        "response": "MOCK_REPLY[sonnet]: CHAT-Q",
        "model": "sonnet",
        "usage": chat.structured_content["usage"],
    }
    # The text content is the same answer, as JSON, for clients that read only text.
    assert json.loads(chat.content[0].text) == chat.structured_content
    assert chat.structured_content["usage"]["input_tokens"] == 11
    assert "MOCK_REPLY[opus]" in analyze.structured_content["analysis"]
    assert raw.structured_content["text"] == "MOCK_REPLY[haiku]: RAW-Q"
    assert raw.structured_content["stop_reason"] == "end_turn"


def test_progress_notifications_follow_the_answer(gateway, mock):
    answer = "a long answer in many pieces " * 4
    mock.when("SLOW-Q", Reply(text=answer, chunks=12, delay=0.05))
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(value, total, message):
        seen.append((value, total, message))

    result = with_session(
        gateway, lambda s: s.call_tool("chat", {"prompt": "SLOW-Q"}, progress_callback=progress)
    )
    assert result.structured_content["response"] == answer
    values = [value for value, _, _ in seen]
    assert values == sorted(set(values))  # strictly increasing, as the specification asks
    assert seen[0][1:] == (None, "started")
    assert seen[-1][1] == seen[-1][0] and seen[-1][2] == f"done; {len(answer)} characters answered"
    # The mock takes at least 0.6 s over its text: at least one report on the way.
    counts = [int(m.split()[0]) for _, _, m in seen[1:-1] if m.endswith("characters answered")]
    assert counts and counts == sorted(counts) and counts[-1] <= len(answer)


def test_tool_failures_are_tool_errors_and_bad_calls_protocol_errors(gateway, mock):
    async def calls(session):
        refused = await session.call_tool("chat", {"prompt": 5})
        mock.next(Reply(error=(529, "overloaded_error", "Upstream busy")))
        failed = await session.call_tool("chat", {"prompt": "x"})
        try:
            await session.call_tool("no_such_tool", {})
        except Exception as exc:  # the mcp client raises the JSON-RPC error
            unknown = exc
        return refused, failed, unknown

    refused, failed, unknown = with_session(gateway, calls)
    assert refused.is_error and "$.prompt: 5 is not of type 'string'" in refused.content[0].text
    assert failed.is_error and "Upstream busy" in failed.content[0].text
    assert "Unknown tool: no_such_tool" in str(unknown)


def test_a_named_key_gets_only_its_routes_and_models_as_tools(gateway, mock):
    async def calls(session):
        listed = await session.list_tools()
        ask = {"messages": [{"role": "user", "content": "KEYED-Q"}], "max_tokens": 5}
        allowed = await session.call_tool("raw", ask)  # the route's model: haiku
        other_model = await session.call_tool("raw", {**ask, "model": "opus"})
        try:
            await session.call_tool("chat", {"prompt": "x"})  # /api/chat: not its route
        except Exception as exc:
            hidden = exc
        return listed, allowed, other_model, hidden

    mock.received.clear()
    listed, allowed, other_model, hidden = with_session(gateway, calls, {"x-api-key": CI_KEY})
    assert [tool.name for tool in listed.tools] == ["raw"]
    assert allowed.structured_content["text"] == "MOCK_REPLY[haiku]: KEYED-Q"
    assert other_model.is_error and "may not use the model 'opus'" in other_model.content[0].text
    assert "Unknown tool: chat" in str(hidden)
    assert [r.body["model"] for r in mock.messages_requests()] == ["haiku"]


def test_tools_follow_a_reload(gateway):
    original = gateway.config.read_text()
    try:
        gateway.config.write_text(
            original.replace("    name: analyze_text\n", "    name: summarize\n")
        )
        gateway.reload()
        listed = with_session(gateway, lambda session: session.list_tools())
        assert sorted(tool.name for tool in listed.tools) == ["chat", "raw", "summarize"]
    finally:
        gateway.config.write_text(original)
        gateway.reload()


JSON_RPC = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
LIST = b'{"jsonrpc":"2.0","id":7,"method":"tools/list"}'


@pytest.mark.parametrize(
    ("method", "headers", "body", "status", "code"),
    [
        ("POST", {**JSON_RPC}, LIST, 401, -32600),  # no token
        ("POST", {**JSON_RPC, "x-api-key": "wrong"}, LIST, 401, -32600),
        ("POST", {**JSON_RPC, **AUTH}, b"not json", 400, -32700),
        ("POST", {**JSON_RPC, **AUTH}, b"\xff\xfe[", 400, -32700),
        ("POST", {**JSON_RPC, **AUTH}, b"[]", 400, -32602),
        ("POST", {**JSON_RPC, **AUTH, "content-type": "text/plain"}, LIST, 400, -32600),
        ("POST", {**JSON_RPC, **AUTH, "mcp-protocol-version": "bogus"}, LIST, 400, -32602),
        ("GET", {**JSON_RPC, **AUTH}, b"", 405, -32600),  # stateless: no server stream
        ("DELETE", {**JSON_RPC, **AUTH}, b"", 405, -32600),
    ],
)
def test_bad_requests_get_json_rpc_errors(gateway, method, headers, body, status, code):
    answer = httpx.request(method, gateway.url, headers=headers, content=body, timeout=10)
    assert answer.status_code == status
    error = answer.json()
    assert error["jsonrpc"] == "2.0" and error["error"]["code"] == code


def test_claude_code_uses_the_gateway_as_an_mcp_server(gateway, mock, tmp_path):
    """Claude Code lists the gateway's tools upstream, calls one when the model asks, and sends
    the tool's answer back to the model."""
    mock.when("ask the gateway", Reply(tool_calls=[("mcp__gw__chat", {"prompt": "INNER-Q"})]))
    mock.when("MOCK_REPLY[sonnet]: INNER-Q", Reply(text="The gateway answered."))
    servers = {"mcpServers": {"gw": {"type": "http", "url": gateway.url, "headers": AUTH}}}
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": mock.base_url,
        "ANTHROPIC_API_KEY": "client-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "ENABLE_TOOL_SEARCH": "false",  # MCP tools listed with their schemas, not deferred
    }
    done = subprocess.run(
        [locate(None), "-p", "--mcp-config", json.dumps(servers), "--strict-mcp-config",
         "--allowedTools", "mcp__gw__chat", "--", "ask the gateway"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "The gateway answered."), done.stderr
    requests = [r.body for r in mock.messages_requests()]
    offered = {tool["name"]: tool for tool in requests[0]["tools"]}
    assert offered["mcp__gw__chat"]["input_schema"]["required"] == ["prompt"]
    # The gateway's own upstream call, then Claude Code's next turn with the tool's result.
    assert requests[1]["model"] == "sonnet"
    assert requests[1]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "INNER-Q"}]}
    ]
    result = requests[-1]["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and not result.get("is_error")
    content = result["content"]
    text = content if isinstance(content, str) else content[0]["text"]
    assert json.loads(text)["response"] == "MOCK_REPLY[sonnet]: INNER-Q"


def test_tool_names_must_be_unique(write_config):
    path = write_config(
        """
        version: 1
        sinks:
          api: {kind: http, dialect: anthropic.messages, base_url: http://127.0.0.1:9}
        routes:
          - path: /api/chat
            dialect: custom
          - path: /v2/chat
            dialect: custom
        """
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = [str(p) for p in caught.value.problems]
    assert problem == (
        f"{path}:7:11 routes[1].path: the MCP tool name 'chat' is already taken by routes[0]; "
        "give this route a name:"
    )


def test_gateway_try_says_the_mcp_route_calls_no_sink(capsys):
    from gateway.commands.main import main

    assert main(["try", "/mcp", "--data", "{}", "--config", str(REPO / "routes.yaml")]) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["status"] == 400 and error["body"]["error"]["message"].startswith(
        "/mcp is mcp, which calls no sink"
    )
