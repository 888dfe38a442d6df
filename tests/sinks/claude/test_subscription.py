"""A subscription's windows as the real `claude` reports them (logged in with a subscription
token, against the mock sending the API's anthropic-ratelimit-unified-* headers), run by the CLI
sink and through the Python SDK: the sink records them, Anthropic clients get them back, and a used-up window moves requests to the next
target until its reset."""

from __future__ import annotations

import time

import anthropic
import httpx
import pytest
from mock_upstream import MockUpstream, Reply, five_hour_limit_reached
from processes import wait_for_no_claude

RESET = int(time.time()) + 3 * 3600
WARNING = {
    "anthropic-ratelimit-unified-status": "allowed",
    "anthropic-ratelimit-unified-representative-claim": "five_hour",
    "anthropic-ratelimit-unified-reset": str(RESET),
    "anthropic-ratelimit-unified-5h-utilization": "0.97",
    "anthropic-ratelimit-unified-5h-reset": str(RESET),
    "anthropic-ratelimit-unified-5h-surpassed-threshold": "0.9",
}
REJECTED = five_hour_limit_reached(RESET)
ROUTES = """
version: 1
sinks:
  claude: {{kind: {kind}, profile: plain, bare: false}}
  api: {{kind: http, dialect: anthropic.messages, base_url: "{api}"}}
models:
  - name: opus
    targets: [{{sink: claude, model: claude-opus-5-5}}, {{sink: api, model: claude-opus-5-5}}]
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
access_log: {{enabled: false}}
"""


@pytest.fixture(params=["cli", "sdk"])
def subscription(request, mock, monkeypatch, serve, write_config):
    """A gateway whose CLI sink is logged in with a (fake) subscription token; its second
    target, an API key's upstream, is another mock."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-not-a-real-token")
    api = MockUpstream().start()
    try:
        yield serve(write_config(ROUTES.format(kind=request.param, api=api.base_url))), api
    finally:
        api.stop()
    assert wait_for_no_claude() == [], "a claude process outlived its request"


def test_the_cli_s_windows_reach_status_and_the_client_and_a_used_up_one_moves_on(
    subscription, mock
):
    gateway, api = subscription
    client = anthropic.Anthropic(base_url=gateway.url, api_key="x", max_retries=0)

    def ask(text: str) -> anthropic.APIResponse:
        return client.messages.with_raw_response.create(
            model="opus", max_tokens=20, messages=[{"role": "user", "content": text}]
        )

    mock.when("first", Reply(text="one", headers=WARNING))
    first = ask("first")
    assert first.headers["x-gateway-target"] == "claude/claude-opus-5-5"
    # The CLI read the headers with the bearer token of a subscription login.
    assert mock.messages_requests()[0].headers["Authorization"].startswith("Bearer sk-ant-oat01")
    status = httpx.get(gateway.url + "/status").json()["sinks"]["claude"]["subscription"]
    assert status["status"] == "allowed_warning" and status["limited_until"] is None
    assert status["windows"]["five_hour"] == {
        "utilization": 0.97, "resets_at": RESET, "status": None,
    }  # fmt: skip

    # Answers tell the client what the sink last heard (Claude Code warns on it).
    mock.when("second", Reply(text="two", headers=WARNING))
    second = ask("second")
    assert second.headers["anthropic-ratelimit-unified-status"] == "allowed_warning"
    assert second.headers["anthropic-ratelimit-unified-5h-utilization"] == "0.97"

    mock.when("third", Reply(error=(429, "rate_limit_error", "limit"), headers=REJECTED))
    third = ask("third")
    assert third.headers["x-gateway-target"] == "api/claude-opus-5-5"
    assert third.headers["x-gateway-attempts"] == "2"
    status = httpx.get(gateway.url + "/status").json()["sinks"]["claude"]["subscription"]
    assert status["status"] == "rejected" and status["limited_until"] == RESET

    # Until the reset, the used-up sink is not even started.
    before = len(mock.messages_requests())
    fourth = ask("fourth")
    assert fourth.headers["x-gateway-target"] == "api/claude-opus-5-5"
    assert fourth.headers["x-gateway-attempts"] == "1"
    assert len(mock.messages_requests()) == before
    assert [r.body["messages"][-1]["content"] for r in api.messages_requests()] == [
        "third", "fourth",
    ]  # fmt: skip
