"""What Claude Code sends upstream depending on the model, read against the real `claude`
binary and the mock upstream: the effort (gateway/sinks/claude/effort.py; a client asking for
one it would drop or lower is refused), and the ``temperature: 1`` it adds for models before
Opus 4.7 when thinking is off (docs/compatibility.md, "Defaults the gateway adds")."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import anthropic
import openai
import pytest
from processes import wait_for_no_claude

from gateway.sinks.claude.binary import locate
from gateway.sinks.claude.effort import effort_sent

# (model, asked) -> what the CLI sends; each kind of case once.
CASES = [
    ("claude-sonnet-4-5-20250929", "high"),  # none for the model
    ("claude-opus-4-6", "xhigh"),  # lowered to high
    ("claude-opus-4-5", "max"),  # lowered to high
    ("claude-sonnet-4-6", "max"),  # as asked
    ("claude-opus-5-5", "xhigh"),  # as asked
]
#: The CLI adds ``temperature: 1`` (the API's default) for these models, thinking off.
TEMPERATURE_ONE = {"claude-sonnet-4-5-20250929", "claude-opus-4-6", "claude-opus-4-5",
                   "claude-sonnet-4-6"}  # fmt: skip


def test_the_table():
    assert [effort_sent(model, asked) for model, asked in CASES] == [
        None, "high", "high", "max", "xhigh",
    ]  # fmt: skip
    assert effort_sent("claude-3-7-sonnet-20250219", "low") is None
    assert effort_sent("claude-sonnet-4-20250514", "low") is None
    assert effort_sent("claude-haiku-4-5", "low") is None
    assert effort_sent("sonnet", "max") == "max"  # an alias of the newest model
    assert effort_sent("claude-opus-4-5", "high") == "high"


def test_the_binary_sends_what_the_table_says(mock, tmp_path):
    binary = locate(None)

    def run(case: tuple[str, str]) -> None:
        model, asked = case
        home = tmp_path / model
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "CLAUDE_CONFIG_DIR": str(home / "config"),
            "ANTHROPIC_BASE_URL": mock.base_url,
            "ANTHROPIC_API_KEY": "dummy",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_DISABLE_THINKING": "1",
            "CLAUDE_CODE_EFFORT_LEVEL": asked,
        }
        home.mkdir()
        done = subprocess.run(
            [binary, "-p", "--bare", "--model", model, "--tools", "", "--no-session-persistence",
             "x"],
            env=env, cwd=home, capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    with ThreadPoolExecutor(len(CASES)) as pool:  # one model each: told apart by the model
        list(pool.map(run, CASES))
    bodies = {r.body["model"]: r.body for r in mock.messages_requests()}
    sent = [(bodies[model].get("output_config") or {}).get("effort") for model, _ in CASES]
    assert sent == [effort_sent(model, asked) for model, asked in CASES]
    temperatures = [bodies[model].get("temperature") for model, _ in CASES]
    assert temperatures == [1 if model in TEMPERATURE_ONE else None for model, _ in CASES]
    assert wait_for_no_claude() == []


ROUTES = """
version: 1
sinks:
  claude: {kind: cli}
models:
  - {name: opus46, target: claude-opus-4-6}
  - match: 'claude-*'
routes:
  - {path: /v1/messages, dialect: anthropic.messages}
  - {path: /v1/chat/completions, dialect: openai.chat}
access_log: {enabled: false}
"""


def test_an_effort_claude_code_would_not_send_is_refused_by_name(
    mock, serve, write_config, monkeypatch
):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    served = serve(write_config(ROUTES))
    claude = anthropic.Anthropic(base_url=served.url, api_key="x", max_retries=0)
    oai = openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0)
    messages = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=5, messages=messages,
            output_config={"effort": "high"},
        )  # fmt: skip
    assert "no effort for the model 'claude-sonnet-4-5'" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="opus46", messages=messages, reasoning_effort="xhigh")
    assert caught.value.param == "effort" and "sends 'high' instead" in caught.value.message
    assert mock.messages_requests() == []
    # Without the effort the model answers; a temperature the client gives replaces the CLI's 1.
    claude.messages.create(
        model="claude-sonnet-4-5", max_tokens=5, messages=messages, extra_body={"temperature": 0.3}
    )
    [sent] = [r.body for r in mock.messages_requests()]
    assert ("output_config" not in sent, sent["temperature"]) == (True, 0.3)
    served.stop()
    assert wait_for_no_claude() == []
