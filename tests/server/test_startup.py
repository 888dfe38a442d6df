"""What `gateway serve` says when it starts, and what /status says about each sink's readiness:
a real server process, the real `claude auth status`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import httpx
from test_reload import free_port

ROUTES = """
version: 1
sinks:
  claude:
    kind: cli
    env:
      HOME: {home}
  other:
    kind: cli
    env:
      HOME: {home}
  keyed:
    kind: cli
    env:
      HOME: {home}
      ANTHROPIC_API_KEY: dummy
  up:
    kind: http
    base_url: http://127.0.0.1:9
    dialect: anthropic.messages
    headers:
      x-api-key: ${{UPSTREAM_KEY_NEVER_SET}}
models:
  - name: opus
routes:
  - path: /v1/messages
    dialect: anthropic.messages
access_log:
  enabled: false
"""


def test_startup_names_the_address_and_each_sinks_readiness(write_config, tmp_path):
    home = tmp_path / "home"  # a user without a login, whatever this machine's user has
    home.mkdir()
    path = write_config(ROUTES.format(home=home))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--port", str(port),
         "--no-reload"],
        env={**env, "LOG_LEVEL": "INFO"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        cwd=tmp_path, text=True,
    )  # fmt: skip
    lines: list[str] = []
    serving = threading.Event()

    def read() -> None:
        for line in process.stderr:
            if not serving.is_set():  # the log up to the announcement's last line
                lines.append(line)
            if "  dashboard " in line:
                serving.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert serving.wait(60), "".join(lines)
        log = "".join(lines)
        base = f"http://127.0.0.1:{port}"
        # One summary: each reason once, for every sink it holds back.
        assert "WARNING gateway: sinks ready: keyed (cli)\n" in log
        assert (
            "\n  not ready: claude (cli), other (cli): claude is not logged in: run "
            "`gateway claude auth login`" in log
        )
        assert log.count("is not logged in") == 1
        assert "\n  not ready: up (http): set UPSTREAM_KEY_NEVER_SET" in log
        # Then where to point a client, and what to open.
        assert log.endswith(
            f"serving {path} on {base}\n"
            f"  Anthropic clients  {base}\n"
            f"  status             {base}/status\n"
            f"  dashboard          {base}/dashboard\n"
        )

        status = httpx.get(f"http://127.0.0.1:{port}/status", timeout=10).json()
        assert status["status"] == "not ready"
        sinks = status["sinks"]
        assert sinks["claude"]["ready"] is False
        assert sinks["claude"]["login"] == {"logged_in": False, "method": "none", "error": None}
        assert "claude auth login" in sinks["claude"]["problem"]
        assert sinks["keyed"]["ready"] is True and sinks["keyed"]["problem"] is None
        assert sinks["keyed"]["login"]["method"] == "api_key"
        assert sinks["up"]["ready"] is False
    finally:
        process.terminate()
        process.wait(60)  # generous: a loaded machine stops its warm claude processes slowly
        reader.join(60)


def test_a_busy_port_is_one_line_naming_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--no-reload"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]  # after the line naming the packaged config it loads
    assert last == (
        f"Port {port} on 127.0.0.1 is already in use (another gateway?). "
        f"Pick another with --port {port + 1} (or PORT={port + 1})."
    )
    assert "Traceback" not in done.stderr
