"""The tool endpoints: /api/tools/file-read and /api/tools/bash, over HTTP and as MCP tools.

Every escape attempt is refused before anything runs: the tests look for a marker file that
a command that did run would have created."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from paths import REPO
from server import ServedApp
from waiting import wait_until

from gateway.app import create_app
from gateway.commands.main import load_checked
from gateway.config import ConfigError, load_config
from gateway.server.plugins import build_plugin_manager
from gateway.server.runtime import build_runtime

ROUTES = """
version: 1
sinks:
  api: {kind: http, dialect: anthropic.messages, base_url: "http://127.0.0.1:9"}
access_log:
  enabled: false
routes:
  - path: /api/tools/file-read
    dialect: tool.file_read
    tool:
      allowed_dirs: [work, more]
      max_bytes: 2000
  - path: /api/tools/bash
    dialect: tool.bash
    tool:
      allowed_dirs: [work]
      executables: [/bin/echo, /bin/sleep, /usr/bin/printenv, /bin/cat, /usr/bin/yes, /opt/none/prog]
      env: {GREETING: hello}
      timeout: 30
      max_output_bytes: 5000
  - path: /api/tools/bash-quick
    dialect: tool.bash
    name: bash_quick
    tool:
      allowed_dirs: [work]
      executables: [/bin/sleep]
      timeout: 0.5
  - path: /mcp
    dialect: mcp
"""


class Tools:
    def __init__(self, served: ServedApp, root: Path) -> None:
        self.served, self.root = served, root
        self.work, self.outside = root / "work", root / "outside"
        self.marker = root / "MARKER"

    def post(self, tool: str, body: object) -> httpx.Response:
        return httpx.post(f"{self.served.url}/api/tools/{tool}", json=body, timeout=30)


@pytest.fixture(scope="module")
def tools(tmp_path_factory) -> Iterator[Tools]:
    root = tmp_path_factory.mktemp("tools")
    for name in ("work", "more", "outside"):
        (root / name).mkdir()
    (root / "work" / "notes.txt").write_text("one\ntwo\nthree\nfour\n")
    (root / "work" / "sub").mkdir()
    (root / "more" / "other.txt").write_text("from the second directory\n")
    (root / "work" / "image.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "work" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (root / "work" / "big.txt").write_text("x" * 2001)
    (root / "outside" / "secret.txt").write_text("SECRET\n")
    (root / "work" / "escape").symlink_to(root / "outside" / "secret.txt")
    (root / "work" / "escape-dir").symlink_to(root / "outside")
    (root / "work" / "shell").symlink_to("/bin/sh")
    os.mkfifo(root / "work" / "fifo")
    (root / "routes.yaml").write_text(ROUTES)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GATEWAY_SECRET_FOR_TEST", "must-not-leak")
        app = create_app(load_config(root / "routes.yaml"))
        app.config.TOUCHUP = False
        served = ServedApp(app).start()
    yield Tools(served, root)
    served.stop()


def error_of(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["message"]


def test_file_read_reads_text_and_line_ranges(tools):
    whole = tools.post("file-read", {"path": "notes.txt"}).json()
    assert whole == {
        "path": str(tools.work / "notes.txt"),
        "content": "one\ntwo\nthree\nfour\n",
        "offset": 0,
        "lines": 4,
        "total_lines": 4,
        "truncated": False,
        "size": 19,
    }
    part = tools.post("file-read", {"path": str(tools.work / "notes.txt"), "offset": 1, "limit": 2})
    assert part.json()["content"] == "two\nthree\n" and part.json()["truncated"] is True
    # The second allowed directory, by absolute path; `..` that stays inside is fine.
    other = tools.post("file-read", {"path": str(tools.root / "more" / "other.txt")})
    assert other.json()["content"] == "from the second directory\n"
    assert tools.post("file-read", {"path": "sub/../notes.txt"}).json()["lines"] == 4


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("../outside/secret.txt", 403, "outside the directories"),
        ("{root}/outside/secret.txt", 403, "outside the directories"),
        ("/etc/passwd", 403, "outside the directories"),
        ("escape", 403, "outside the directories"),  # a symlink out
        ("escape-dir/secret.txt", 403, "outside the directories"),
        ("../outside/missing.txt", 403, "outside the directories"),  # exists or not: 403
        ("missing.txt", 404, "does not exist"),
        ("image.bin", 400, "binary file"),
        ("latin1.txt", 400, "binary file"),
        ("big.txt", 413, "2001 bytes, over this endpoint's max_bytes (2000)"),
        ("sub", 400, "not a regular file"),
        ("fifo", 400, "not a regular file"),  # would block forever
        ("notes.txt\n../../outside/secret.txt", 400, "control character"),
        ("notes.txt\x00", 400, "control character"),
    ],
)
def test_file_read_refuses(tools, path, status, says):
    answer = tools.post("file-read", {"path": path.format(root=tools.root)})
    code, message = error_of(answer)
    assert code == status and says in message
    assert "SECRET" not in answer.text


@pytest.mark.parametrize(
    "body",
    [{}, {"path": ""}, {"path": 5}, {"path": "notes.txt", "offset": -1}, {"path": "a", "x": 1}],
)
def test_file_read_checks_its_body(tools, body):
    code, message = error_of(tools.post("file-read", body))
    assert code == 400 and message.startswith("The request does not match")


def test_bash_runs_an_allowed_program_with_literal_arguments(tools):
    words = ["$(touch {m})", "; touch {m}", "`touch {m}`", "a\nb", "| cat", "*"]
    args = [word.format(m=tools.marker) for word in words]
    answer = tools.post("bash", {"command": "echo", "args": args}).json()
    assert answer["exit_code"] == 0 and answer["stdout"] == " ".join(args) + "\n"
    assert answer["command"] == "/bin/echo" and answer["truncated"] is False
    by_path = tools.post("bash", {"command": "/bin/cat", "args": ["notes.txt"], "cwd": "sub/.."})
    assert by_path.json()["stdout"] == "one\ntwo\nthree\nfour\n"
    assert not tools.marker.exists()


def test_bash_environment_is_scrubbed(tools):
    answer = tools.post("bash", {"command": "printenv"}).json()
    env = dict(line.split("=", 1) for line in answer["stdout"].splitlines())
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(tools.work),
        "GREETING": "hello",
    }
    assert "must-not-leak" not in answer["stdout"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"command": "touch", "args": ["{m}"]}, 403, "is not allowed here"),
        ({"command": "/usr/bin/touch", "args": ["{m}"]}, 403, "is not allowed here"),
        ({"command": "sh", "args": ["-c", "touch {m}"]}, 403, "is not allowed here"),
        ({"command": "{work}/shell", "args": ["-c", "touch {m}"]}, 403, "is not allowed here"),
        ({"command": "echo; touch {m}"}, 403, "is not allowed here"),
        ({"command": "echo $(touch {m})"}, 403, "is not allowed here"),
        ({"command": "echo && touch {m}"}, 403, "is not allowed here"),
        ({"command": "/bin/../bin/echo"}, 403, "is not allowed here"),
        ({"command": "echo\ntouch {m}"}, 400, "control character"),
        ({"command": "echo", "args": ["a\x00b"]}, 400, "NUL"),
        ({"command": "echo", "cwd": ".."}, 403, "outside the directories"),
        ({"command": "echo", "cwd": "/tmp"}, 403, "outside the directories"),
        ({"command": "echo", "cwd": "escape-dir"}, 403, "outside the directories"),
        ({"command": "echo", "cwd": "notes.txt"}, 400, "not a directory"),
        ({"command": "echo", "cwd": "nowhere"}, 404, "does not exist"),
        ({"command": "echo", "args": "touch {m}"}, 400, "is not of type 'array'"),
        ({"args": ["x"]}, 400, "'command' is a required property"),
        ({"command": "prog"}, 404, "'/opt/none/prog' is not installed"),
    ],
)
def test_bash_refuses_before_running(tools, body, status, says):
    text = json.dumps(body).replace("{m}", str(tools.marker)).replace("{work}", str(tools.work))
    code, message = error_of(tools.post("bash", json.loads(text)))
    assert code == status and says in message
    assert not tools.marker.exists()


def test_bash_ends_a_command_past_its_timeout_or_output_cap(tools):
    started = time.monotonic()
    code, message = error_of(tools.post("bash-quick", {"command": "sleep", "args": ["300"]}))
    assert (code, message) == (
        504,
        "/bin/sleep ran past this endpoint's timeout (0.5 s) and was killed",
    )
    assert time.monotonic() - started < 60, "the answer waited for the program"
    # The kernel ends the command's namespace as its keeper dies: a moment after the answer.
    wait_until(lambda: sleeping("300") == [], "sleep 300 to end", 15)
    capped = tools.post("bash", {"command": "yes"}).json()
    assert (capped["truncated"], capped["exit_code"]) == (True, -9), capped["stderr"]
    assert capped["stdout"] == "y\n" * 2500  # exactly max_output_bytes


def sleeping(seconds: str) -> list[int]:
    """Processes running ``sleep SECONDS`` (each test sleeps a number of its own), wherever
    they are: a command's child, or one that escaped its process group. Zombies are left out:
    they have ended."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            continue
        if state != "Z" and cmdline[-2:] == [seconds.encode(), b""] and b"sleep" in cmdline[0]:
            found.append(int(entry.name))
    return found


def test_bash_kills_the_command_when_the_client_leaves(tools):
    body = json.dumps({"command": "sleep", "args": ["57.25"]}).encode()
    client = socket.create_connection(("127.0.0.1", tools.served.port))
    client.sendall(
        b"POST /api/tools/bash HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    wait_until(lambda: sleeping("57.25"), "the command did not start", 15)
    client.close()
    wait_until(lambda: not sleeping("57.25"), "the command outlived its client", 15)


def test_tool_endpoints_are_mcp_tools(tools):
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run():
        async with (
            streamable_http_client(tools.served.url + "/mcp") as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            listed = await session.list_tools()
            read_result = await session.call_tool("file-read", {"path": "notes.txt", "limit": 1})
            refused = await session.call_tool("bash", {"command": "sh", "args": ["-c", "id"]})
            ran = await session.call_tool("bash", {"command": "echo", "args": ["over MCP"]})
            return listed, read_result, refused, ran

    listed, read_result, refused, ran = asyncio.run(run())
    assert sorted(tool.name for tool in listed.tools) == ["bash", "bash_quick", "file-read"]
    assert read_result.structured_content["content"] == "one\n"
    assert refused.is_error and refused.content[0].text.startswith("403 permission_error")
    assert ran.structured_content["stdout"] == "over MCP\n"


def test_tool_endpoints_are_off_by_default():
    config = load_config(REPO / "routes.yaml")
    router = build_runtime(config, build_plugin_manager(config)).router
    assert router.match("/api/tools/bash") is None and router.match("/api/tools/file-read") is None
    assert [r for r in router if r.endpoint.name.startswith("tool.")] == []


def test_config_refuses_a_shell_and_missing_options(write_config):
    path = write_config(
        """
        version: 1
        sinks:
          api: {kind: http, dialect: anthropic.messages, base_url: "http://127.0.0.1:9"}
        routes:
          - path: /api/tools/bash
            dialect: tool.bash
            tool:
              allowed_dirs: [.]
              executables: [/usr/bin/git, /bin/bash]
          - path: /api/tools/file-read
            dialect: tool.file_read
          - path: /api/chat
            dialect: custom
            tool: {allowed_dirs: [.]}
        """
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    # Every problem at once: the route the schema refuses is left out of the later checks.
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:10:5 routes[1]: 'tool' is a required property",
        f"{path}:14:5 routes[2].tool: only the routes of dialect tool.file_read and tool.bash "
        "take tool options",
    ]
    path.write_text(
        path.read_text().replace(
            "    dialect: tool.file_read\n",
            "    dialect: tool.file_read\n    tool: {allowed_dirs: [.]}\n",
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:15:5 routes[2].tool: only the routes of dialect tool.file_read and tool.bash "
        "take tool options",
    ]
    # The bash tool's own policy, checked when the routes are built (gateway check, serve).
    fixed = "    dialect: custom\n"
    path.write_text(path.read_text().replace(fixed + "    tool: {allowed_dirs: [.]}\n", fixed))
    with pytest.raises(ConfigError) as caught:
        load_checked(str(path))
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:9:21 routes[0].tool.executables[0]: '/usr/bin/git' can run other programs: "
        "git runs commands through -c (aliases, core.pager), --config-env, --exec-path, "
        "--upload-pack and more. List it as {path, args} with patterns that allow only the "
        "arguments you mean (docs/tools.md)",
        f"{path}:9:35 routes[0].tool.executables[1]: '/bin/bash' is a shell: it would run any "
        "command it is given; list the programs themselves",
    ]


def test_an_mcp_call_ends_its_command_when_the_client_leaves(tools):
    call = {"name": "bash", "arguments": {"command": "sleep", "args": ["57.5"]}}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call})
    client = socket.create_connection(("127.0.0.1", tools.served.port))
    client.sendall(
        b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"accept: application/json, text/event-stream\r\n"
        + f"content-length: {len(body)}\r\n\r\n{body}".encode()
    )
    wait_until(lambda: sleeping("57.5"), "the command did not start", 15)
    client.close()
    wait_until(lambda: not sleeping("57.5"), "the command outlived its MCP client", 15)


@pytest.mark.parametrize("header", [("origin", "http://evil.example"), ("host", "evil.example")])
def test_mcp_without_a_token_serves_only_localhost(tools, header):
    """No token: a web page reaching /mcp through DNS rebinding or a cross-site request is
    refused (the MCP specification asks servers to check Origin)."""
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    answer = httpx.post(
        tools.served.url + "/mcp", json=body, headers={**headers, header[0]: header[1]}
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == -32600 and "evil.example" in answer.text
    assert httpx.post(tools.served.url + "/mcp", json=body, headers=headers).status_code == 200


def test_a_long_mcp_call_reports_progress_while_it_runs(tools, monkeypatch):
    """A program that prints nothing for a while (cat waiting on a FIFO the test feeds only
    after two heartbeats) still gets progress notifications, so a client can tell it is alive."""
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from gateway.endpoints.mcp.progress import ProgressReporter

    monkeypatch.setattr(ProgressReporter, "HEARTBEAT", 0.05)
    seen: list[tuple[float, float | None, str | None]] = []

    async def run():
        beats = asyncio.Event()

        async def progress(value, total, message):
            seen.append((value, total, message))
            if [m for _, _, m in seen].count("working") >= 2:
                beats.set()

        async with (
            streamable_http_client(tools.served.url + "/mcp") as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            arguments = {"command": "cat", "args": ["fifo"]}
            call = asyncio.create_task(
                session.call_tool("bash", arguments, progress_callback=progress)
            )
            await asyncio.wait_for(beats.wait(), 30)
            await asyncio.to_thread((tools.work / "fifo").write_text, "fed\n")
            return await call

    result = asyncio.run(run())
    assert result.structured_content["stdout"] == "fed\n"
    assert seen[0][1:] == (None, "started") and seen[-1][1:] == (seen[-1][0], "done")
    values = [value for value, _, _ in seen]
    assert values == sorted(set(values))


def test_output_past_the_cap_is_read_to_its_end_so_the_process_can_be_waited_for():
    # asyncio's Process.wait() also waits for the pipes to close; a reader that stopped with
    # its buffer full (reading paused) would never see the end, and the call would hang until
    # the endpoint's timeout (seen under load as a 504 instead of a truncated answer).
    from gateway.endpoints.tools.bash import _Capped
    from gateway.endpoints.tools.containment import Containment

    class Leader:
        pid = 2**22 + 1  # no such process: the kill finds nothing, as after a quick exit
        returncode = None

    async def read_past_cap() -> asyncio.StreamReader:
        stream = asyncio.StreamReader(limit=1024)
        stream.feed_data(b"y\n" * 100_000)
        stream.feed_eof()
        capped = _Capped(5000, Containment())
        await capped.read(stream, Leader())
        assert capped.truncated and len(capped.data()) == 5000
        return stream

    assert asyncio.run(read_past_cap()).at_eof()
