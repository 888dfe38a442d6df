"""/api/code with the restricted Bash of the agent profile (`bash:` rules): the real claude binary
against the mock upstream, which asks for Bash commands; only those the rules name run."""

from __future__ import annotations

import shutil

import httpx
import pytest
from mock_upstream import Reply
from paths import REPO
from processes import wait_for_no_claude

from gateway.sinks.claude.settings import ClaudeSettings

ROUTES = """
version: 1
default_sink: claude-code
access_log:
  enabled: false
sinks:
  claude-code:
    kind: cli
    profile: agent
    tools: [Read]
    bash: ['echo:*', 'git log:*']
    max_turns: 4
    working_dir: {workdir}
models:
  - match: '*'
routes:
  - path: /api/code
    dialect: custom
    model: sonnet
    transforms:
      request: [code_request]
      response: [chat_response]
transforms:
  code_request: {{template: code_request.j2, input_schema: api_code.request.json, output_schema: ir.request.schema.json}}
  chat_response: {{template: chat_response.j2, input_schema: ir.response.schema.json, output_schema: api_chat.response.json}}
"""


@pytest.fixture
def code_gateway(mock, serve, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    for folder in ("transforms", "schemas"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    workdir = tmp_path / "project"
    workdir.mkdir()
    config = tmp_path / "routes.yaml"
    config.write_text(ROUTES.format(workdir=workdir))
    yield serve(config), workdir
    assert wait_for_no_claude() == [], "a claude process outlived its request"


def result_text(block: dict) -> str:
    content = block["content"]
    return content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)


def test_bash_runs_only_the_listed_commands(code_gateway, mock):
    """One turn asks for six commands at once: the listed one runs, the others are denied by
    Claude Code's own permission check (inside the working directory, so only the rules deny
    them) and leave no marker."""
    gateway, workdir = code_gateway
    marker = workdir / "MARKER"
    outside_the_rules = [
        f"touch {marker}",
        f"echo hi && touch {marker}",
        f"echo hi; touch {marker}",
        f"echo $(touch {marker})",
        f"echo hi > {marker}",
    ]
    calls = [("Bash", {"command": "echo BASH-RAN-OK"})]
    calls += [("Bash", {"command": command}) for command in outside_the_rules]
    mock.when("BASH-RAN-OK", Reply(text="Only echo ran."))
    mock.when("RUN-THEM", Reply(tool_calls=calls))
    answer = httpx.post(gateway.url + "/api/code", json={"prompt": "RUN-THEM"}, timeout=90)
    assert answer.status_code == 200 and answer.json()["response"] == "Only echo ran."
    first, second = mock.messages_requests()
    offered = [tool["name"] for tool in first.body["tools"]]
    assert "Bash" in offered and "Read" in offered
    results = {b["tool_use_id"]: b for b in second.body["messages"][-1]["content"]}
    ran = results["toolu_mock_0"]
    assert not ran.get("is_error") and result_text(ran).strip() == "BASH-RAN-OK"
    for n, command in enumerate(outside_the_rules, start=1):
        denied = results[f"toolu_mock_{n}"]
        assert denied["is_error"] is True, command
        assert "Permission for this tool use was denied" in result_text(denied), command
    assert not marker.exists()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"profile": "agent", "tools": ["Read", "Bash"]}, "Bash there would run any command"),
        ({"profile": "agent", "bash": ["git log:*),Bash"]}, "is not a command rule"),
        ({"profile": "agent", "bash": ["git log\n"]}, "is not a command rule"),
        ({"profile": "plain", "bash": ["git log:*"]}, "the plain profile runs no tools"),
    ],
)
def test_bash_rules_are_checked(options, says):
    with pytest.raises(ValueError) as caught:
        ClaudeSettings.from_options(options)
    assert says in str(caught.value)


def test_flags_carry_the_rules_and_nothing_else():
    settings = ClaudeSettings.from_options(
        {"profile": "agent", "tools": ["Read"], "bash": ["git log:*", "npm test"]}
    )
    assert settings.offered_tools == ("Read", "Bash")
    assert settings.permitted_tools == ("Read", "Bash(git log:*)", "Bash(npm test)")
    plain = ClaudeSettings.from_options({"profile": "agent", "tools": ["Read"]})
    assert (plain.offered_tools, plain.permitted_tools) == (("Read",), ("Read",))
