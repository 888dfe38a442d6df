"""Live reload under load, and SIGHUP on a real `gateway serve` process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
from mock_upstream import Reply

ROUTES = """
version: 1
sinks:
  up:
    kind: http
    base_url: ${MOCK_URL}
    dialect: anthropic.messages
models:
  - name: opus
    aliases: [gpt-4o]
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
access_log:
  enabled: false
"""

# A new alias; the mock echoes the model it was asked for, so its answer shows the target.
WITH_NEW_ALIAS = ROUTES.replace(
    "aliases: [gpt-4o]", "aliases: [gpt-4o]\n  - name: gpt-new\n    target: claude-new-target"
)
BROKEN = WITH_NEW_ALIAS.replace(
    "  - path: /v1/messages\n", "  - path: /v1/messages\n    sink: nowhere\n"
)


def ask(url: str, model: str, stream: bool) -> tuple[int, str]:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "load"}]}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=30) as response:
        return response.status_code, response.read().decode()


def test_reload_under_load(mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    mock.when("load", Reply(text="x" * 40, chunks=20, delay=0.005))
    path = write_config(ROUTES)
    served = serve(path, reload_interval=0.1)
    stop = threading.Event()
    outcomes: list[tuple[int, str, bool]] = []

    failures: list[BaseException] = []

    def client(stream: bool) -> None:
        try:
            while not stop.is_set():
                status, text = ask(served.url, "gpt-4o", stream)
                outcomes.append((status, text, stream))
        except BaseException as exc:  # reported by the test's own thread
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(i % 2 == 0,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        path.write_text(WITH_NEW_ALIAS.replace("${MOCK_URL}", mock.base_url))
        deadline = time.monotonic() + 10
        while "claude-new-target" not in ask(served.url, "gpt-new", False)[1]:
            assert time.monotonic() < deadline, "the new alias never started working"
            time.sleep(0.1)
        path.write_text(BROKEN.replace("${MOCK_URL}", mock.base_url))
        deadline = time.monotonic() + 10
        while not served.app.ctx.reloader.last_problems:
            assert time.monotonic() < deadline, "the broken file was never reported"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == []
    assert (
        "routes[0].sink: 'nowhere' is not a defined sink"
        in served.app.ctx.reloader.last_problems[0]
    )
    assert len(outcomes) > 20
    assert all(status == 200 for status, _, _ in outcomes), [
        o[:2] for o in outcomes if o[0] != 200
    ][:3]
    for _, text, stream in outcomes:
        assert (
            text.rstrip().endswith("data: [DONE]") if stream else '"finish_reason":"stop"' in text
        )
    # The last good configuration still serves, new alias included.
    assert "claude-new-target" in ask(served.url, "gpt-new", False)[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sighup_reloads_a_running_server(mock, write_config, tmp_path):
    path = write_config(ROUTES.replace("${MOCK_URL}", mock.base_url))
    port = free_port()
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--config",
            str(path),
            "--port",
            str(port),
            "--no-reload",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (
                process.stderr.read().decode()
            )
            time.sleep(0.1)
        assert "MOCK_REPLY[gpt-new]" in ask(url, "gpt-new", False)[1]  # forwarded as is
        path.write_text(WITH_NEW_ALIAS.replace("${MOCK_URL}", mock.base_url))
        time.sleep(1.5)  # no file watching: only the signal may reload
        assert "MOCK_REPLY[gpt-new]" in ask(url, "gpt-new", False)[1]
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "claude-new-target" not in ask(url, "gpt-new", False)[1]:
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(15)


def test_a_sink_shared_by_two_configs_stays_open_for_requests_in_flight(
    mock, serve, write_config, monkeypatch
):
    """Reload 1 keeps the sink (only models change); reload 2 replaces it while a request that
    started before reload 1 still streams through it."""
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    mock.when("long", Reply(text="y" * 60, chunks=30, delay=0.05))
    path = write_config(ROUTES)
    served = serve(path)
    outcome: list[tuple[int, str]] = []

    def stream() -> None:
        body = {
            "model": "gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "long"}],
        }
        with httpx.stream(
            "POST", served.url + "/v1/chat/completions", json=body, timeout=30
        ) as response:
            outcome.append((response.status_code, response.read().decode()))

    thread = threading.Thread(target=stream)
    thread.start()
    time.sleep(0.3)
    path.write_text(WITH_NEW_ALIAS)
    assert served.call(served.app.ctx.reloader.reload("models only")) is True
    path.write_text(
        WITH_NEW_ALIAS.replace(
            "dialect: anthropic.messages\n",
            "dialect: anthropic.messages\n    max_connections: 64\n",
            1,
        )
    )
    assert served.call(served.app.ctx.reloader.reload("new sink options")) is True
    thread.join(30)
    [(status, text)] = outcome
    assert status == 200 and text.rstrip().endswith("data: [DONE]")
    assert "y" * 60 in "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in text.splitlines()
        if line.startswith("data: {") and '"choices":[{' in line
    )
