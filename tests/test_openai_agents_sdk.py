"""The OpenAI Agents SDK (openai-agents, pinned in the test extras) as a client: an agent with a
function tool runs its tool loop by ``previous_response_id`` (``auto_previous_response_id``),
and a second run continues the conversation from the first's last response. An HTTP sink
answers from the mock upstream (the CLI sink's tool loops by previous_response_id are in
tests/flow/test_stored_responses.py)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from agents import (
    Agent,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from mock_upstream import Reply
from openai import AsyncOpenAI

ROUTES = """
version: 1
sinks:
  api: {kind: http, dialect: anthropic.messages, base_url: "${MOCK_URL}"}
models:
  - {name: sonnet, aliases: [gpt-4.1]}
routes:
  - {path: /v1/responses, dialect: openai.responses}
access_log: {enabled: false}
"""


@function_tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"AGENTS-TOOL: 21C in {city}"


def test_an_agent_continues_by_previous_response_id(mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    served = serve(write_config(ROUTES))
    set_tracing_disabled(True)
    mock.when("AGENTS-PROMPT", Reply(text="Checking.", tool_calls=[("weather", {"city": "Oslo"})]))
    mock.when("AGENTS-TOOL", Reply(text="AGENTS-FINAL: 21C in Oslo."))
    mock.when("AGENTS-THANKS", Reply(text="AGENTS-WELCOME"))
    sent: list[dict] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "POST":
            sent.append(json.loads(request.content))

    async def conversation() -> tuple[str, str]:
        http = httpx.AsyncClient(event_hooks={"request": [record]})
        client = AsyncOpenAI(base_url=served.url + "/v1", api_key="x", http_client=http)
        agent = Agent(
            name="forecaster",
            instructions="AGENTS-INSTRUCTIONS",
            tools=[weather],
            model=OpenAIResponsesModel(model="gpt-4.1", openai_client=client),
        )
        config = RunConfig(tracing_disabled=True)
        first = await Runner.run(
            agent, "AGENTS-PROMPT weather?", auto_previous_response_id=True, run_config=config
        )
        second = await Runner.run(
            agent,
            "AGENTS-THANKS",
            previous_response_id=first.last_response_id,
            run_config=config,
        )
        await http.aclose()
        return first.final_output, second.final_output

    first, second = asyncio.run(conversation())
    assert (first, second) == ("AGENTS-FINAL: 21C in Oslo.", "AGENTS-WELCOME")
    # The client sent only what is new, the rest by reference.
    assert [body.get("previous_response_id") is not None for body in sent] == [False, True, True]
    assert [item["type"] for item in sent[1]["input"]] == ["function_call_output"]
    upstream = mock.messages_requests()[-1].body["messages"]
    blocks = [
        (m["role"], b["type"], b.get("text") or b.get("name") or "")
        for m in upstream
        for b in m["content"]
        if not b.get("text", "").startswith("<system-reminder>")
    ]
    assert blocks == [
        ("user", "text", "AGENTS-PROMPT weather?"),
        ("assistant", "text", "Checking."),
        ("assistant", "tool_use", "weather"),
        ("user", "tool_result", ""),
        ("assistant", "text", "AGENTS-FINAL: 21C in Oslo."),
        ("user", "text", "AGENTS-THANKS"),
    ]
    assert "AGENTS-TOOL: 21C in Oslo" in json.dumps(upstream[2])


pytestmark = pytest.mark.timeout(120)
