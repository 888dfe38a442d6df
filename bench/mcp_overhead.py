"""What a tool call over /mcp costs next to the same custom route called directly.

Starts the mock upstream and `gateway serve` (as in production: its own process, uvloop) with a
custom route on an HTTP sink of the mock, then times N sequential requests of each kind on one
keep-alive connection (raw socket, TCP_NODELAY) and prints the medians:

    .venv/bin/python bench/mcp_overhead.py [--runs 500]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mock_upstream import MockUpstream  # noqa: E402

ROUTES = """
version: 1
sinks:
  api: {{kind: http, dialect: anthropic.messages, base_url: "{mock}"}}
models:
  - match: '*'
access_log:
  enabled: false
routes:
  - {{path: /mcp, dialect: mcp}}
  - path: /api/chat
    dialect: custom
    model: sonnet
    transforms: {{request: [chat_request], response: [chat_response]}}
transforms:
  chat_request: {{template: chat_request.j2, input_schema: api_chat.request.json, output_schema: ir.request.schema.json}}
  chat_response: {{template: chat_response.j2, input_schema: ir.response.schema.json, output_schema: api_chat.response.json}}
"""
MCP_CALL = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"chat","arguments":{"prompt":"hi"}}}'


def request(path: str, body: bytes, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{extra}"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


def timed(sock: socket.socket, data: bytes) -> float:
    """Seconds until the whole answer (chunked, or with a content-length) is read."""
    started = time.perf_counter()
    sock.sendall(data)
    buffer = b""
    while True:
        buffer += sock.recv(65536)
        head, _, rest = buffer.partition(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in head.lower():
            if rest.endswith(b"0\r\n\r\n"):
                return time.perf_counter() - started
        elif _length(head) is not None and len(rest) >= _length(head):
            return time.perf_counter() - started


def _length(head: bytes) -> int | None:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    runs = parser.parse_args().runs
    mock = MockUpstream().start()
    mock.received = type("Discard", (list,), {"append": lambda self, item: None})()
    with tempfile.TemporaryDirectory() as directory:
        for folder in ("transforms", "schemas"):
            shutil.copytree(ROOT / folder, Path(directory, folder))
        config = Path(directory, "routes.yaml")
        config.write_text(ROUTES.format(mock=mock.base_url))
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port",
             str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    sock = socket.create_connection(("127.0.0.1", port))
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the gateway did not start") from None
                    time.sleep(0.1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            direct = request("/api/chat", b'{"prompt":"hi"}')
            over_mcp = request("/mcp", MCP_CALL, "accept: application/json, text/event-stream\r\n")
            for data in (direct, over_mcp):  # warm-up
                for _ in range(20):
                    timed(sock, data)
            plain = statistics.median(timed(sock, direct) for _ in range(runs)) * 1000
            mcp = statistics.median(timed(sock, over_mcp) for _ in range(runs)) * 1000
            print(f"median of {runs}: POST /api/chat {plain:.2f} ms, tools/call over /mcp "
                  f"{mcp:.2f} ms ({mcp - plain:+.2f} ms)")  # fmt: skip
            sock.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
            mock.stop()


if __name__ == "__main__":
    main()
