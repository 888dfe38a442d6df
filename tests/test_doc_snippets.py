"""The client snippets of docs/ are run as written: every marked block is used by a test (the
agent CLIs' in test_agent_clis.py, Claude Code's in test_claude_code_client.py), and Cursor's
serving step is run here, through bash, as a reader would type it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from doc_snippets import for_gateway, markers, snippet
from paths import TESTS
from waiting import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_every_marked_snippet_is_run_by_a_test():
    sources = "".join(
        path.read_text(encoding="utf-8")
        for path in TESTS.rglob("*.py")
        if path.name != "doc_snippets.py"
    )
    names = markers()
    assert names, "docs/ marks no snippet"
    # Named as they are, or per provider: f"continue-{provider}".
    per_provider = {name: f'"{name.rsplit("-", 1)[0]}-{{provider}}"' for name in names}
    unused = [n for n in names if f'"{n}"' not in sources and per_provider[n] not in sources]
    assert unused == [], f"snippets of docs/ that no test runs: {unused}"


def test_cursor_serve_step_serves_the_tunnel_host_with_the_token(tmp_path):
    """docs/editors.md, Cursor step 3, with the token of step 1 exported: the public host is
    served with the token only, and no other host is."""
    port = free_port()
    host = "gateway-test.trycloudflare.com"
    command = for_gateway(snippet("editors.md", "cursor-serve"), "", host=host)
    home = tmp_path / "home"  # no claude login: the sinks start no processes ahead
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANTHROPIC_", "CLAUDE", "GATEWAY_"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",  # `gateway` of this install
        HOME=str(home),
        PORT=str(port),
        GATEWAY_TOKEN="cursor-test-token",
        GATEWAY_ACCESS_LOG=str(tmp_path / "access.log"),
        GATEWAY_USAGE_DB=str(tmp_path / "usage.db"),
    )
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            ["bash", "-c", f"{command} --no-reload"], cwd=tmp_path, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert server.poll() is None, log.read_text()
            try:
                return httpx.get(f"{base}/health", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, "gateway serve to answer /health", timeout=90)
        token = {"authorization": "Bearer cursor-test-token"}
        models = httpx.get(f"{base}/v1/models", headers={"host": host, **token}, timeout=10)
        assert models.status_code == 200 and "sonnet" in models.text
        assert httpx.get(f"{base}/v1/models", headers={"host": host}, timeout=10).status_code == 401
        other = httpx.get(
            f"{base}/v1/models", headers={"host": "evil.example", **token}, timeout=10
        )
        assert other.status_code == 403
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
