"""Run directories: removed on every path, swept when a gateway left them, never another's.

The paths through a gateway (a timeout, a normal end, a shutdown mid-answer) use the real
`claude` binary against the mock upstream, except the hang, which tests/fake_claude.py plays;
tests/sinks/test_claude_cli.py counts them on a client disconnect and the sink's own timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import anthropic
import openai
import pytest
from mock_upstream import Reply
from paths import REPO
from processes import wait_for_no_claude

from gateway.sinks.claude.run_dirs import RunArea, runs_parent

FAKE_CLAUDE = REPO / "tests" / "fake_claude.py"

ROUTES = """
version: 1
sinks:
  claude:
    kind: cli
    {options}
models:
  - name: opus
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
limits:
  request_timeout: {request_timeout}
access_log:
  enabled: false
"""


@pytest.fixture
def gateway(mock, serve, write_config, monkeypatch, run_dirs):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")

    def start(request_timeout=600, **options):
        lines = "\n    ".join(f"{k}: {json.dumps(v)}" for k, v in options.items())
        text = ROUTES.format(options=lines or "profile: plain", request_timeout=request_timeout)
        return serve(write_config(text))

    yield start
    assert wait_for_no_claude() == [], "a claude process outlived its request"


# --- through a gateway ----------------------------------------------------------------------


def test_a_normal_answer_leaves_nothing(gateway, run_dirs):
    served = gateway()
    client = anthropic.Anthropic(base_url=served.url, api_key="x", max_retries=0)
    with client.messages.stream(
        model="opus", max_tokens=20, messages=[{"role": "user", "content": "hello"}]
    ) as stream:
        assert stream.get_final_text()
    assert len(run_dirs.areas()) == 2  # the sink's area and its lock: counted in the right place
    assert run_dirs.wait_for(0) == 0


def test_a_hung_run_cut_by_the_request_timeout_leaves_nothing(gateway, run_dirs):
    served = gateway(request_timeout=1, binary=str(FAKE_CLAUDE), env={"FAKE_CLAUDE_MODE": "hang"})
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="opus", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 504
    assert len(run_dirs.areas()) == 2 and run_dirs.wait_for(0) == 0


def test_a_shutdown_mid_answer_leaves_nothing(gateway, mock, run_dirs):
    mock.when("slow", Reply(text="s" * 100, chunks=100, delay=0.1))
    served = gateway()
    body = json.dumps(
        {"model": "opus", "max_tokens": 50, "stream": True,
         "messages": [{"role": "user", "content": "slow"}]}
    )  # fmt: skip
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(
            f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        received = b""
        while b"content_block_delta" not in received:
            received += sock.recv(65536)
        assert run_dirs.count() == 1 and len(run_dirs.areas()) == 2  # the area and its lock
        served.stop()
    assert wait_for_no_claude() == []
    assert run_dirs.areas() == []


# --- the area and its sweep -----------------------------------------------------------------


def test_a_run_is_removed_after_its_process_even_if_its_caller_is_cancelled(tmp_path):
    async def scenario():
        area = RunArea.open(str(tmp_path))
        run = area.new_run()
        stopped = asyncio.Event()

        async def stop():  # a process that writes its files as it exits, as claude does
            await asyncio.sleep(0)
            Path(run.path, "late.json").write_text("{}")
            stopped.set()

        run.stop_first(stop)
        caller = asyncio.ensure_future(run.remove())
        await asyncio.sleep(0)
        caller.cancel()  # the request's task, cancelled (a client gone, a shutdown)
        await asyncio.gather(caller, return_exceptions=True)
        await area.close()
        return stopped.is_set(), Path(run.path).exists(), sorted(area.path.parent.iterdir())

    stopped, run_left, parent_left = asyncio.run(scenario())
    assert stopped and not run_left and parent_left == []


def test_areas_of_gone_gateways_are_swept_and_live_ones_kept(tmp_path):
    # Another gateway: a second process holding its area; it then dies without cleaning up.
    other = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys; from gateway.sinks.claude.run_dirs import RunArea; "
         "area = RunArea.open(sys.argv[1]); area.new_run(); print(area.path.name, flush=True); "
         "sys.stdin.read(); os._exit(0)",
         str(tmp_path)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        other_area = runs_parent(str(tmp_path)) / other.stdout.readline().strip()
        assert list(other_area.glob("run-*"))
        mine = RunArea.open(str(tmp_path))  # sweeps at start
        mine.new_run()
        sibling = RunArea.open(str(tmp_path))  # a second sink in this process: sweeps too
        assert other_area.exists() and list(mine.path.glob("run-*"))
    finally:
        other.stdin.close()
        assert other.wait(30) == 0
    assert other_area.exists()  # the dead gateway left it behind
    third = RunArea.open(str(tmp_path))
    assert not other_area.exists() and not Path(f"{other_area}.lock").exists()
    assert mine.path.exists() and sibling.path.exists()  # still running: kept
    for area in (mine, sibling, third):
        asyncio.run(area.close())
    assert list(runs_parent(str(tmp_path)).iterdir()) == []


def test_only_gateway_areas_are_swept(tmp_path):
    parent = runs_parent(str(tmp_path))
    (parent / "notes").mkdir()
    (parent / "gateway-123-deadbeef").mkdir()  # a sweep cut short: no lock file left
    asyncio.run(RunArea.open(str(tmp_path)).close())
    assert sorted(p.name for p in parent.iterdir()) == ["notes"]


def test_a_shared_directory_others_can_write_is_refused(tmp_path):
    parent = tmp_path / f"claude-gateway-{os.getuid()}"
    parent.mkdir(mode=0o777)
    parent.chmod(0o777)
    with pytest.raises(PermissionError, match="not a directory private to this user"):
        runs_parent(str(tmp_path))
