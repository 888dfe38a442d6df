"""Coding-agent CLIs as clients: Codex (Responses), the Continue CLI `cn` and opencode (each
through Chat Completions and through Anthropic Messages), and the Vercel AI SDK (`ai` with
`@ai-sdk/openai`, Responses), at the exact versions of tests/agent_clis/package-lock.json, run
headless against the gateway served with the default routes.yaml, whose sinks talk to the mock
upstream.

Each test is one run of the CLI: the prompt is answered, in a stream, with text and a call of one
of the client's own tools; the client runs the tool and sends its output back through the
gateway, and the final answer is streamed to the CLI's stdout. The mock upstream's record shows
that the tool was offered and that its output came back; the gateway's record shows which of its
endpoints the client used, streamed, and that every request was answered with 200.

The CLIs are installed once, with `npm ci`, into build/agent-clis (git ignores build/); without
Node.js and npm, with GATEWAY_SKIP_AGENT_CLIS set, or without a registry the tests are skipped
(one line in pytest's summary, naming why)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from doc_snippets import for_gateway, snippet
from mock_upstream import Reply
from processes import wait_for_no_claude

from gateway.config import load_config
from gateway.hookspecs import hookimpl
from gateway.server.plugins import build_plugin_manager

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "tests" / "agent_clis"
INSTALL = REPO / "build" / "agent-clis"
BINARIES = ("codex", "cn", "opencode")
RUN_TIMEOUT = 90
INSTALL_TIMEOUT = 300

# The first run of the module installs the CLIs (858 MB in build/agent-clis, measured with the
# lock file of 2026-12): allow for it beyond the
# suite's 120 s. Every CLI run is bounded by RUN_TIMEOUT itself.
pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT + RUN_TIMEOUT + 30)


# --- the CLIs ---------------------------------------------------------------------------------


def _tail(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


_SKIPPED = (
    "the agent-CLI tests (Codex, Continue, opencode; CI runs them, and their first run downloads "
    "858 MB from the npm registry into build/agent-clis) are skipped"
)
# Decided for the whole module, so that pytest's summary says it in one line.
if os.environ.get("GATEWAY_SKIP_AGENT_CLIS"):
    pytest.skip(f"{_SKIPPED}: GATEWAY_SKIP_AGENT_CLIS is set", allow_module_level=True)
if shutil.which("node") is None or shutil.which("npm") is None:
    pytest.skip(f"{_SKIPPED}: Node.js and npm are not both on PATH", allow_module_level=True)


@pytest.fixture(scope="session")
def agent_clis() -> Path:
    """The node_modules/.bin directory holding codex, cn and opencode, installed by `npm ci`
    from tests/agent_clis only when the lock file changed or a binary is missing."""
    files = [PACKAGE / "package.json", PACKAGE / "package-lock.json"]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()
    bin_dir = INSTALL / "node_modules" / ".bin"
    stamp = INSTALL / "installed.sha256"
    INSTALL.mkdir(parents=True, exist_ok=True)
    # Another pytest process (xdist, a second terminal) may be installing at the same time.
    with open(INSTALL / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = stamp.exists() and stamp.read_text().strip() == digest
        if installed and all((bin_dir / name).exists() for name in BINARIES):
            return bin_dir
        shown = f"npm ci --prefix {INSTALL.relative_to(REPO)}"
        npm = shutil.which("npm")
        assert npm is not None
        stamp.unlink(missing_ok=True)
        for path in files:
            shutil.copyfile(path, INSTALL / path.name)
        try:
            done = subprocess.run(
                [npm, "ci", "--prefix", str(INSTALL), "--no-audit", "--no-fund"],
                cwd=INSTALL,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"`{shown}` did not finish within {INSTALL_TIMEOUT} s")
        if done.returncode != 0:
            pytest.skip(
                f"`{shown}` failed (exit {done.returncode}; is the npm registry reachable?):\n"
                + _tail(done.stderr.strip() or done.stdout.strip())
            )
        missing = [name for name in BINARIES if not (bin_dir / name).exists()]
        if missing:
            pytest.skip(f"`{shown}` installed no {', '.join(missing)} in {bin_dir}")
        stamp.write_text(digest + "\n")
    return bin_dir


# --- the gateway ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    path: str
    stream: bool
    status: int | None
    dropped_tools: str | None = None  # the x-gateway-dropped-tools header


class Finished:
    """A plugin recording each request the gateway finished."""

    def __init__(self) -> None:
        self.seen: list[Served] = []
        self._changed = threading.Condition()

    @hookimpl
    def gateway_request_finished(self, exchange) -> None:
        dropped = exchange.response_headers.get("x-gateway-dropped-tools")
        with self._changed:
            self.seen.append(Served(exchange.path, exchange.stream, exchange.status, dropped))
            self._changed.notify_all()

    def at_least(self, count: int, timeout: float = 10) -> list[Served]:
        """The record once it holds ``count`` requests (a client may exit on the last byte,
        just before the gateway's hook runs)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.seen) >= count, timeout)
            return list(self.seen)


@dataclass
class Gateway:
    url: str
    finished: Finished


@pytest.fixture
def gateway(mock, serve, monkeypatch, tmp_path) -> Iterator[Gateway]:
    """The default routes.yaml served on 127.0.0.1; its claude processes talk to the mock."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    monkeypatch.setenv("GATEWAY_ACCESS_LOG", str(tmp_path / "access.log"))
    config = load_config(REPO / "routes.yaml")
    finished = Finished()
    plugins = build_plugin_manager(config)
    plugins.register(finished, name="tests.finished")
    served = serve(config, plugins=plugins)
    yield Gateway(served.url, finished)
    served.stop()  # and with it the spares of the shipped warm pool
    assert wait_for_no_claude() == []


@dataclass
class Client:
    home: Path
    project: Path
    env: dict[str, str]

    def run(self, *argv: str | Path) -> tuple[int, str, str]:
        done = subprocess.run(
            [str(arg) for arg in argv],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def client(tmp_path) -> Client:
    """A home and a project directory for one CLI; nothing of the user's environment but PATH
    (for node)."""
    home = tmp_path / "client-home"
    project = tmp_path / "project"
    home.mkdir()
    project.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
    }
    return Client(home, project, env)


# --- what the mock upstream received ----------------------------------------------------------


def tool_names(body: dict) -> list[str]:
    return [tool["name"] for tool in body.get("tools", [])]


def user_text(message: dict) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "\n".join(block.get("text", "") for block in content if block.get("type") == "text")


def script_round_trip(mock, prompt: str, tool: str, arguments: dict, output: str, final: str):
    """The prompt is answered with text and a call of ``tool``; the request carrying the
    tool's ``output`` back is answered with ``final``, streamed in several deltas."""
    mock.when(prompt, Reply(text="Let me look.", tool_calls=[(tool, arguments)]))
    mock.when(output, Reply(text=final, chunks=5))


def assert_round_trip(mock, prompt: str, tool: str, output: str) -> None:
    """The upstream was offered ``tool`` with the prompt, and got ``output`` back as the
    result of its call."""
    requests = [r.body for r in mock.messages_requests()]
    asked = [b for b in requests if prompt in user_text(b["messages"][-1])]
    assert asked, f"no upstream request ended with the prompt {prompt!r}"
    assert tool in tool_names(asked[0]), tool_names(asked[0])
    last = requests[-1]["messages"]
    calls = [
        block
        for block in last[-2]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_use"
    ]
    assert [call["name"] for call in calls] == [tool]
    results = [
        block
        for block in last[-1]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    assert [result["tool_use_id"] for result in results] == [calls[0]["id"]]
    assert output in json.dumps(results[0])
    assert not results[0].get("is_error"), results[0]


def assert_served(gateway: Gateway, path: str, dropped_tools: str | None = None) -> None:
    """The client made two requests, both to ``path``, streamed and answered with 200: the
    prompt and the tool's result."""
    expected = Served(path, stream=True, status=200, dropped_tools=dropped_tools)
    assert gateway.finished.at_least(2) == [expected, expected]


# --- Codex ------------------------------------------------------------------------------------


# docs/editors.md's config.toml runs as written, between what a headless test run needs: no
# approval prompts, no update check, no network calls of Codex's own.
CODEX_TEST_TOP = """\
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false
"""
CODEX_TEST_TABLES = """
[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
"""


def test_codex_exec_command_round_trip(agent_clis, gateway, mock, client):
    codex_home = client.home / ".codex"
    codex_home.mkdir()
    documented = for_gateway(snippet("editors.md", "codex"), gateway.url)
    (codex_home / "config.toml").write_text(CODEX_TEST_TOP + documented + CODEX_TEST_TABLES)
    client.env["CODEX_HOME"] = str(codex_home)
    client.env["GATEWAY_TOKEN"] = "client-key"  # the config's env_key
    # The output differs from the command: only running it produces the marker.
    script_round_trip(
        mock,
        "CODEX-PROMPT count to forty-two",
        "exec_command",
        {"cmd": "echo hello-from-tool-$((6 * 7))"},
        "hello-from-tool-42",
        "CODEX-FINAL: the tool said 42.",
    )
    code, out, err = client.run(
        agent_clis / "codex",
        "exec",
        "--skip-git-repo-check",
        "--ephemeral",
        "CODEX-PROMPT count to forty-two",
    )
    assert code == 0, _tail(err)
    # `codex exec` prints the last message alone on stdout (the rest goes to stderr).
    assert out == "CODEX-FINAL: the tool said 42.\n", (out, _tail(err))
    assert_round_trip(mock, "CODEX-PROMPT", "exec_command", "hello-from-tool-42")
    # Codex also declares OpenAI's hosted web_search: left out, and named.
    assert_served(gateway, "/v1/responses", dropped_tools="web_search")


# --- Continue CLI -----------------------------------------------------------------------------


# provider: the path docs/editors.md's config.yaml for it posts to
CONTINUE_PROVIDERS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


@pytest.mark.parametrize("provider", sorted(CONTINUE_PROVIDERS))
def test_continue_read_round_trip(provider, agent_clis, gateway, mock, client):
    path = CONTINUE_PROVIDERS[provider]
    config = client.home / "config.yaml"
    config.write_text(for_gateway(snippet("editors.md", f"continue-{provider}"), gateway.url))
    client.env["CONTINUE_CLI_ENABLE_TELEMETRY"] = "0"
    note = client.project / "note.txt"
    note.write_text("CONTINUE-NOTE-7311\n")
    script_round_trip(
        mock,
        "CONTINUE-PROMPT read the note",
        "Read",
        {"filepath": str(note)},
        "CONTINUE-NOTE-7311",
        "CONTINUE-FINAL: the note says 7311.",
    )
    code, out, err = client.run(
        agent_clis / "cn", "--config", config, "-p", "CONTINUE-PROMPT read the note"
    )
    assert code == 0, _tail(err)
    # `cn -p` prints the final answer only.
    assert out == "CONTINUE-FINAL: the note says 7311.\n", (out, _tail(err))
    assert_round_trip(mock, "CONTINUE-PROMPT", "Read", "CONTINUE-NOTE-7311")
    assert_served(gateway, path)


# --- opencode ---------------------------------------------------------------------------------


def opencode_config(provider: str, url: str) -> dict:
    """docs/editors.md's opencode.json for ``provider``, with no update check or sharing."""
    documented = json.loads(for_gateway(snippet("editors.md", f"opencode-{provider}"), url))
    return {"autoupdate": False, "share": "disabled", **documented}


OPENCODE_PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


@pytest.mark.parametrize("provider", sorted(OPENCODE_PATHS))
def test_opencode_read_round_trip(provider, agent_clis, gateway, mock, client):
    config = client.home / "opencode.json"
    config.write_text(json.dumps(opencode_config(provider, gateway.url), indent=2))
    for name, sub in [
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ]:
        client.env[name] = str(client.home / sub)
    client.env.update(
        OPENCODE_CONFIG=str(config),
        OPENCODE_DISABLE_MODELS_FETCH="1",
        OPENCODE_DISABLE_AUTOUPDATE="1",
        # Stops its background plugin install from reaching a registry: nothing listens there.
        npm_config_registry="http://127.0.0.1:9/",
    )
    note = client.project / "note.txt"
    note.write_text("OPENCODE-NOTE-5150\n")
    script_round_trip(
        mock,
        "OPENCODE-PROMPT read the note",
        "read",
        {"filePath": str(note)},
        "OPENCODE-NOTE-5150",
        "OPENCODE-FINAL: the note says 5150.",
    )
    # With a title given, opencode asks no model for one: the model calls are the two steps.
    code, out, err = client.run(
        agent_clis / "opencode", "run", "--title", "t", "OPENCODE-PROMPT read the note"
    )
    assert code == 0, _tail(err)
    # `opencode run` prints every text part on stdout, the tool calls on stderr.
    assert out == "Let me look.\nOPENCODE-FINAL: the note says 5150.\n", (out, _tail(err))
    assert_round_trip(mock, "OPENCODE-PROMPT", "read", "OPENCODE-NOTE-5150")
    assert_served(gateway, OPENCODE_PATHS[provider])


# --- the Vercel AI SDK ------------------------------------------------------------------------


# The CLI sink at the root, an HTTP sink (the Anthropic API's, here the mock) under /api.
VERCEL_BASES = {"cli": "/v1", "api": "/api/v1"}


def _references(body: dict) -> list[str]:
    """The kinds of item an item_reference of ``body`` names, by their id's prefix."""
    return [
        item["id"].partition("_")[0]
        for item in body["input"]
        if isinstance(item, dict) and item.get("type") == "item_reference"
    ]


@pytest.mark.parametrize("sink", sorted(VERCEL_BASES))
def test_vercel_ai_sdk_tool_loop_refers_to_stored_items(sink, agent_clis, gateway, mock, client):
    """`ai` and `@ai-sdk/openai` as an application uses them, unchanged: `openai(model)` (the
    Responses API, storing by default), a tool loop of two steps, then a streamed second turn
    from the first's messages. With a reasoning model the SDK sends earlier reasoning and text
    back by item_reference, which the gateway resolves from its store."""
    script = INSTALL / "vercel_tool_loop.mjs"
    shutil.copyfile(PACKAGE / script.name, script)
    mock.when(
        "VERCEL-PROMPT",
        Reply(
            thinking="VERCEL-THOUGHT",
            text="Let me look.",
            tool_calls=[("weather", {"city": "Oslo"})],
        ),
    )
    mock.when("VERCEL-TOOL", Reply(text="VERCEL-FINAL: 19C in Oslo.", chunks=4))
    mock.when("VERCEL-NEXT", Reply(text="VERCEL-SECOND: you are welcome.", chunks=4))
    code, out, err = client.run("node", script, gateway.url + VERCEL_BASES[sink], "o3")
    assert code == 0, _tail(err)
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["first"], result["steps"]) == ("VERCEL-FINAL: 19C in Oslo.", 2)
    assert result["second"] == "VERCEL-SECOND: you are welcome."
    first_step, second_step, next_turn = result["posted"]
    assert "store" not in first_step  # the SDK leaves it to the API's default: stored
    assert _references(second_step) == ["rs", "msg"]
    assert "rs" in _references(next_turn) and "msg" in _references(next_turn)
    # What the references stood for reached the upstream as the assistant's turn.
    upstream = mock.messages_requests()
    step_two = next(r.body for r in upstream if "VERCEL-TOOL" in json.dumps(r.body))
    assistant = next(m for m in step_two["messages"] if m["role"] == "assistant")
    kinds = [block["type"] for block in assistant["content"]]
    assert kinds[-2:] == ["text", "tool_use"] and assistant["content"][-2]["text"] == "Let me look."
    if sink == "api":  # the Anthropic API takes earlier thinking back, signed
        assert assistant["content"][0] == {
            "type": "thinking", "thinking": "VERCEL-THOUGHT", "signature": "sig",
        }  # fmt: skip
    path = VERCEL_BASES[sink] + "/responses"
    served = gateway.finished.at_least(3)
    assert [(s.path, s.status) for s in served] == [(path, 200)] * 3
    assert [s.stream for s in served] == [False, False, True]
