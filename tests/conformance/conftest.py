"""What the conformance modules share: one gateway per test in front of each sink kind.

The cli and sdk runs use the real `claude` binary against the mock upstream; every client is the
real openai or anthropic SDK. A new sink kind passes by adding one entry to SINKS.
"""

from __future__ import annotations

import anthropic
import openai
import pytest
from processes import wait_for_no_claude

SINKS = {
    "http": """
    kind: http
    base_url: ${MOCK_URL}
    dialect: anthropic.messages
    headers:
      x-api-key: ${UPSTREAM_KEY}""",
    "cli": """
    kind: cli""",
    # The same with processes started ahead of requests: every answer must be the same.
    "cli-warm": """
    kind: cli
    warm: 2""",
    # The same with conversations kept in their process: every answer must be the same.
    "cli-live": """
    kind: cli
    live: 4""",
    "sdk": """
    kind: sdk""",
    # The predecessor SDK (0.0.25), through the adapter.
    "sdk-legacy": """
    kind: sdk
    sdk: claude-code-sdk""",
}

ROUTES = """
version: 1
sinks:
  backend:{sink}
    max_concurrency: {concurrency}
    max_queue: 0
    queue_timeout: 5
models:
  - name: opus
    aliases: [gpt-4o]
  - name: sonnet
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
  - path: /v1/responses
    dialect: openai.responses
    hosted_tools: drop
access_log:
  enabled: false
"""


@pytest.fixture(params=sorted(SINKS))
def kind(request):
    return request.param


@pytest.fixture
def gateway(kind, mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setenv("UPSTREAM_KEY", "k")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")

    started = []

    def start(concurrency=8):
        served = serve(write_config(ROUTES.format(sink=SINKS[kind], concurrency=concurrency)))
        started.append(served)
        return served

    yield start
    for served in started:  # spares live as long as their server
        served.stop()
    assert wait_for_no_claude() == [], "a claude process outlived its server"


@pytest.fixture
def clients(gateway):
    served = gateway()
    return (
        openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0),
        anthropic.Anthropic(base_url=served.url, api_key="x", max_retries=0),
    )
