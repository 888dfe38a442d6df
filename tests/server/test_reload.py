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
    """Requests in flight across a reload and a refused reload all finish; no count of requests
    depends on the machine's speed: each step waits until every client has finished more."""
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    mock.when("load", Reply(text="x" * 40, chunks=20, delay=0.005))
    path = write_config(ROUTES)
    served = serve(path, reload_interval=0.1)
    stop = threading.Event()
    outcomes: list[tuple[int, str, bool]] = []
    finished = [0, 0, 0, 0]
    failures: list[BaseException] = []

    def client(index: int) -> None:
        stream = index % 2 == 0
        try:
            while not stop.is_set():
                status, text = ask(served.url, "gpt-4o", stream)
                outcomes.append((status, text, stream))
                finished[index] += 1
        except BaseException as exc:  # reported by the test's own thread
            failures.append(exc)

    def each_client_finishes(more: int) -> None:
        target = [count + more for count in finished]
        wait_until(lambda: all(f >= t for f, t in zip(finished, target, strict=True)) or failures)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        each_client_finishes(1)
        path.write_text(WITH_NEW_ALIAS.replace("${MOCK_URL}", mock.base_url))
        wait_until(lambda: "claude-new-target" in ask(served.url, "gpt-new", False)[1])
        each_client_finishes(2)
        path.write_text(BROKEN.replace("${MOCK_URL}", mock.base_url))
        wait_until(lambda: served.app.ctx.reloader.last_problems)
        each_client_finishes(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == []
    assert (
        "routes[0].sink: 'nowhere' is not a defined sink"
        in served.app.ctx.reloader.last_problems[0]
    )
    assert all(status == 200 for status, _, _ in outcomes), [
        o[:2] for o in outcomes if o[0] != 200
    ][:3]
    for _, text, stream in outcomes:
        assert (
            text.rstrip().endswith("data: [DONE]") if stream else '"finish_reason":"stop"' in text
        )


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the awaited event never happened"
        time.sleep(0.05)


def test_a_file_completed_while_it_was_read_is_read_again(mock, serve, write_config, monkeypatch):
    """An editor's save seen half-written is refused; once complete it is loaded, even when it
    was completed while the reloader was still reading the half-written one."""
    import gateway.server.reload

    monkeypatch.setenv("MOCK_URL", mock.base_url)
    path = write_config(ROUTES)
    served = serve(path)
    reloader = served.app.ctx.reloader
    path.write_text(ROUTES[: len(ROUTES) // 2])
    complete = WITH_NEW_ALIAS.replace("${MOCK_URL}", mock.base_url)
    read_half_written = gateway.server.reload.load_config

    def load_then_the_save_completes(source):
        try:
            return read_half_written(source)
        finally:
            stamp = path.stat().st_mtime_ns + 1_000_000_000
            path.write_text(complete)
            os.utime(path, ns=(stamp, stamp))

    monkeypatch.setattr(gateway.server.reload, "load_config", load_then_the_save_completes)
    assert served.call(reloader.reload("test")) is False
    monkeypatch.setattr(gateway.server.reload, "load_config", read_half_written)
    assert reloader.changed()
    assert served.call(reloader.reload("test")) is True
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
            "gateway",
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
