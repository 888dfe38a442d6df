"""Slow and oversized requests: a 408 or a 413 the client can read, in its route's dialect.

Raw sockets play the slow clients (slowloris: headers or a body trickled a byte at a time);
the real SDKs and the standard library's http.client send the oversized bodies.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import textwrap
import time
from pathlib import Path

import anthropic
import openai
import pytest
from mock_upstream import Reply
from server import ServedApp

from gateway.app import create_app
from gateway.config import load_config

ROUTES = """
version: 1
sinks:
  up:
    kind: http
    base_url: {mock_url}
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
  path: {log}
"""
STRICT_LIMITS = """
limits:
  header_timeout: 1
  body_timeout: 1
  max_header_bytes: 2048
"""


def _serve(upstream, tmp_path_factory, limits: str):
    folder = tmp_path_factory.mktemp("gateway")
    text = ROUTES.format(mock_url=upstream.base_url, log=folder / "access.log") + limits
    (folder / "routes.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    app = create_app(load_config(folder / "routes.yaml"))
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    served.log = folder / "access.log"
    return served


@pytest.fixture(scope="module")
def strict(upstream, tmp_path_factory):
    """One-second header and body deadlines, a 2 KiB header limit."""
    served = _serve(upstream, tmp_path_factory, STRICT_LIMITS)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def roomy(upstream, tmp_path_factory):
    """The default limits (32 MiB bodies)."""
    served = _serve(upstream, tmp_path_factory, "")
    yield served
    served.stop()


def trickle(port: int, head: bytes, drip: bytes, *, give_up: float = 30.0) -> bytes:
    """Sends ``head``, then ``drip`` one byte every 0.2 s until the server answers; returns all
    it sent before closing the connection (fails if it is still open after ``give_up`` s)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        deadline = time.monotonic() + give_up
        for byte in drip:
            if select.select([sock], [], [], 0.2)[0]:
                break  # the server answered: stop sending
            sock.sendall(bytes([byte]))
        while time.monotonic() < deadline:
            if not select.select([sock], [], [], deadline - time.monotonic())[0]:
                break
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return received
            received += chunk
    pytest.fail(f"the connection was still open after {give_up} s; received {received[:300]!r}")


def split_response(raw: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines if ": " in line)
    return int(status_line.split()[1]), headers, json.loads(body)


def logged(log: Path, path: str, status: int) -> dict:
    """The access-log line of a request to ``path`` answered ``status`` (the log is flushed
    twice a second)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        found = [line for line in lines if line["path"] == path and line["status"] == status]
        if found:
            return found[-1]
        time.sleep(0.05)
    pytest.fail(f"no access-log line for {path} with status {status}")


def test_trickled_headers_get_a_408_and_the_connection_closes(strict):
    head = b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    raw = trickle(strict.port, head, b"X-Slow: yes\r\n" * 1000)
    status, headers, body = split_response(raw)
    assert status == 408 and headers["connection"] == "close"
    assert body["type"] == "error" and body["error"]["type"] == "request_timeout"
    assert "headers did not arrive within 1 s" in body["error"]["message"]
    assert "limits.header_timeout" in body["error"]["message"]
    line = logged(strict.log, "/v1/messages", 408)
    assert line["error"] == "request_timeout" and line["method"] == "POST"


def test_a_trickled_body_gets_a_408_and_the_connection_closes(strict):
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    raw = trickle(strict.port, head, b'{"model": "gpt-4o"' + b" " * 982)
    status, headers, body = split_response(raw)
    assert status == 408 and headers["connection"] == "close"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "request_timeout"
    assert "body did not arrive within 1 s" in body["error"]["message"]
    assert "limits.body_timeout" in body["error"]["message"]
    assert logged(strict.log, "/v1/chat/completions", 408)["error"] == "request_timeout"


def test_a_trickled_chunked_body_is_cut_off_too(strict):
    head = (
        b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    status, _, body = split_response(trickle(strict.port, head, b"1\r\n \r\n" * 1000))
    assert status == 408 and "limits.body_timeout" in body["error"]["message"]


def test_a_long_streamed_answer_is_not_cut(strict, mock):
    # The answer takes longer than both read deadlines; they end when the request is read.
    mock.when("take your time", Reply(text="z" * 20, chunks=20, delay=0.1))
    client = anthropic.Anthropic(base_url=strict.url, api_key="x", max_retries=0)
    started = time.monotonic()
    with client.messages.stream(
        model="opus", max_tokens=50, messages=[{"role": "user", "content": "take your time"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "z" * 20
    assert time.monotonic() - started > 2  # longer than header_timeout + body_timeout


def test_oversized_headers_get_a_413_that_names_them(strict):
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"X-Big: " + b"a" * 3000 + b"\r\nContent-Length: 2\r\n\r\n{}"
    )
    with socket.create_connection(("127.0.0.1", strict.port)) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status, _, body = split_response(raw)
    assert status == 413
    message = body["error"]["message"]
    assert message.startswith("The request headers are larger than 2048 bytes")
    assert "limits.max_header_bytes" in message and "body" not in message
    assert body["error"]["type"] == "invalid_request_error"  # the OpenAI route's shape
    assert logged(strict.log, "/v1/chat/completions", 413)["error"] == "request_too_large"


BIG = "x" * 34_000_000  # the 34 MB of the report, over the default 32 MiB


def test_a_34_mb_message_gets_a_413_from_each_sdk(roomy):
    claude = anthropic.Anthropic(base_url=roomy.url, api_key="x", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": BIG}]
        )
    assert caught.value.status_code == 413
    message = caught.value.body["error"]["message"]
    assert re.search(r"request body is 340000\d\d bytes, more than the 33554432 allowed", message)
    assert "limits.max_body_bytes" in message
    oai = openai.OpenAI(base_url=roomy.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": BIG}])
    assert caught.value.status_code == 413
    assert "33554432 allowed (limits.max_body_bytes" in caught.value.body["message"]


def test_a_client_that_writes_its_whole_body_first_reads_the_413(roomy):
    # http.client (like requests) stops at a reset while still sending: it used to see one.
    body = json.dumps(
        {"model": "opus", "max_tokens": 5, "messages": [{"role": "user", "content": BIG}]}
    )
    connection = http.client.HTTPConnection("127.0.0.1", roomy.port, timeout=60)
    connection.request(
        "POST", "/v1/messages", body=body, headers={"content-type": "application/json"}
    )
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["type"] == "request_too_large"
    connection.close()


def test_a_body_refused_up_front_is_not_asked_for(roomy):
    # With Expect: 100-continue (curl does it for large bodies) the 413 comes instead of the
    # 100 Continue, and the client never sends the 40 MB.
    head = (
        b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: 40000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", roomy.port)) as sock:
        sock.sendall(head)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status, _, body = split_response(raw)
    assert status == 413 and "40000000 bytes" in body["error"]["message"]
