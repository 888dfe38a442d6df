"""Every example runs: the client scripts against a served gateway, the routes.yaml examples
with the real claude binary against the mock upstream."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import anthropic
import openai
import pytest
from mock_upstream import Reply
from processes import wait_for_no_claude

from gateway.commands.main import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture
def claude_upstream(mock, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    monkeypatch.setenv("GATEWAY_ACCESS_LOG", str(tmp_path / "access.log"))
    yield mock
    assert wait_for_no_claude() == []


@pytest.mark.parametrize(
    "routes", sorted(EXAMPLES.glob("*/routes.yaml")), ids=lambda p: p.parent.name
)
def test_example_routes_are_valid(routes):
    assert main(["check", str(routes)]) == 0


def run_example(args: list[str], url: str) -> str:
    env = {**os.environ, "GATEWAY_URL": url}
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_client_examples(claude_upstream, serve):
    claude_upstream.when(
        "weather in Paris",
        Reply(tool_calls=[("get_weather", {"city": "Paris"})], stop_reason="tool_use"),
    )
    served = serve(REPO / "routes.yaml")
    out = run_example([sys.executable, "examples/openai_sdk/chat.py"], served.url)
    assert "completion: MOCK_REPLY[claude-opus-5-5]: What is a gateway?" in out
    assert "stream: MOCK_REPLY[claude-sonnet-5-5]: Count to five." in out
    assert "tool call: get_weather {'city': 'Paris'}" in out and "finish reason: tool_calls" in out
    out = run_example([sys.executable, "examples/anthropic_sdk/messages.py"], served.url)
    assert "message: MOCK_REPLY[claude-opus-5-5]: And a larger one?" in out
    assert "models: opus, gpt-4o" in out
    if shutil.which("curl") is None:  # the machine has no curl: the SDK examples still ran
        pytest.skip("curl is not installed")
    out = run_example(["bash", "examples/curl/requests.sh"], served.url)
    assert '"status":"ok"' in out and "event: message_stop" in out
    assert '"response":"MOCK_REPLY[claude-sonnet-5-5]: Say hello."' in out


def test_system_prompt_per_alias(claude_upstream, serve):
    served = serve(EXAMPLES / "system_prompt_per_alias" / "routes.yaml")
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0)
    client.chat.completions.create(
        model="reviewer",
        messages=[
            {"role": "system", "content": "Python only."},
            {"role": "user", "content": "review"},
        ],
    )
    client.chat.completions.create(model="tutor", messages=[{"role": "user", "content": "teach"}])
    reviewer, tutor = claude_upstream.messages_requests()
    assert reviewer.body["model"] == "claude-opus-5-5"
    assert (
        reviewer.body["system"][-1]["text"]
        == "You are a strict senior code reviewer. Point out bugs first, style last.\n\nPython only."
    )
    assert tutor.body["model"] == "claude-sonnet-5-5"
    assert tutor.body["system"][-1]["text"].startswith("You are a patient tutor.")


def test_route_by_header(claude_upstream, serve):
    served = serve(EXAMPLES / "route_by_header" / "routes.yaml")
    for tier in ("fast", "best", None):
        headers = {"x-model-tier": tier} if tier else {}
        client = openai.OpenAI(
            base_url=served.url + "/v1", api_key="x", max_retries=0, default_headers=headers
        )
        client.chat.completions.create(model="sonnet", messages=[{"role": "user", "content": "x"}])
    assert [r.body["model"] for r in claude_upstream.messages_requests()] == [
        "claude-haiku-5-5",
        "claude-opus-5-5",
        "claude-sonnet-5-5",
    ]


def test_redact_emails(claude_upstream, serve):
    served = serve(EXAMPLES / "redact_emails" / "routes.yaml")
    client = anthropic.Anthropic(base_url=served.url, api_key="x", max_retries=0)
    client.messages.create(
        model="sonnet",
        max_tokens=20,
        system="Escalations go to boss@example.com.",
        messages=[
            {"role": "user", "content": "Mail jane.doe+test@mail.example.org about it."},
            {"role": "assistant", "content": "Sure: I will not repeat ops@example.com."},
            {"role": "user", "content": "Thanks"},
        ],
    )
    [request] = claude_upstream.messages_requests()
    texts = str(request.body["messages"]) + str(request.body["system"])
    assert "@" not in texts.replace("ops@example.com", "")  # assistant turns are the model's own
    assert "Mail [email] about it." in texts and "Escalations go to [email]." in texts
