"""Claude Code itself as a client: the real `claude` binary with ANTHROPIC_BASE_URL at the
gateway's root (the CLI sink), at /sdk (the SDK sink) and at /api (byte passthrough), served by
the default routes.yaml, every backend talking to the mock upstream."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from doc_snippets import for_gateway, snippet
from mock_upstream import Reply
from processes import wait_for_no_claude

from gateway.config import load_config
from gateway.sinks.claude.binary import locate

REPO = Path(__file__).resolve().parent.parent
MOUNTS = {"cli": "", "sdk": "/sdk", "api": "/api"}


@pytest.fixture(params=sorted(MOUNTS))
def mount(request):
    return request.param


@pytest.fixture
def claude_code(mount, mock, serve, monkeypatch, tmp_path):
    """Runs the `claude` client against the gateway; returns (exit code, stdout)."""
    # The gateway and the claude processes of its sinks talk to the mock.
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    monkeypatch.setenv("GATEWAY_ACCESS_LOG", str(tmp_path / "access.log"))
    served = serve(load_config(REPO / "routes.yaml"))
    home = tmp_path / "client-home"
    workdir = tmp_path / "project"
    home.mkdir()
    workdir.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
    }
    # docs/editors.md's command line: its variables, then `claude` (the arguments follow).
    *assignments, command = shlex.split(
        for_gateway(snippet("editors.md", "claude-code"), served.url + MOUNTS[mount])
    )
    assert command == "claude"
    env.update(assignment.split("=", 1) for assignment in assignments)
    assert env["ANTHROPIC_BASE_URL"] == served.url + MOUNTS[mount]
    binary = locate(None)
    assert binary, "the claude binary bundled with claude-agent-sdk is missing"

    def run(*args: str) -> tuple[int, str]:
        done = subprocess.run(
            [binary, "-p", *args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )
        return done.returncode, done.stdout

    run.workdir = workdir  # type: ignore[attr-defined]
    yield run
    served.stop()  # and with it the spares of the shipped warm pool
    assert wait_for_no_claude() == []


def sent_turns(mock) -> list[tuple[str, str]]:
    """(role, text) of the last upstream request's turns, system entries included."""
    out = []
    for message in mock.messages_requests()[-1].body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        text = " ".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        out.append((message["role"], text))
    return out


def test_print_stream_json_and_continue(mount, claude_code, mock):
    mock.when("first question", Reply(text="FIRST-ANSWER"))
    mock.when("second question", Reply(text="SECOND-ANSWER", chunks=4))
    code, out = claude_code("first question")
    assert (code, out.strip()) == (0, "FIRST-ANSWER")
    # Claude Code's environment note is a system turn after the first user turn. Alone after
    # the live turn, Claude Code as a sink can only fold it into that turn.
    turns = sent_turns(mock)
    if mount == "api":
        assert [role for role, _ in turns] == ["user", "system"]
    else:
        assert [role for role, _ in turns] == ["user"]
        assert "<system-reminder>\n# Environment" in turns[0][1]
    assert "# Environment" in turns[-1][1]
    code, out = claude_code("-c", "second question", "--output-format", "stream-json", "--verbose")
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    result = lines[-1]
    assert code == 0 and result["type"] == "result" and result["is_error"] is False
    assert result["result"] == "SECOND-ANSWER"
    turns = sent_turns(mock)
    assert [role for role, _ in turns] == ["user", "system", "assistant", "user"]
    assert "# Environment" in turns[1][1]
    assert "first question" in turns[0][1] and turns[-1][1].endswith("second question")
    assert [text for role, text in turns if role == "assistant"] == ["FIRST-ANSWER"]


def test_its_own_tool_loop(claude_code, mock):
    note = claude_code.workdir / "note.txt"
    note.write_text("SECRET-CONTENT-42\n")
    mock.when("read the note", Reply(tool_calls=[("Read", {"file_path": str(note)})]))
    mock.when("SECRET-CONTENT-42", Reply(text="The note says SECRET-CONTENT-42."))
    code, out = claude_code("read the note", "--allowedTools", "Read")
    assert (code, out.strip()) == (0, "The note says SECRET-CONTENT-42.")
    first, second = mock.messages_requests()[-2:]
    # The gateway offered Claude Code's tools; Claude Code ran Read and sent its result.
    assert "Read" in [tool["name"] for tool in first.body["tools"]]
    result = second.body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and "SECRET-CONTENT-42" in json.dumps(result)
