"""What the benchmarks send and what they run: request bodies, the gateway config, the servers.

Every server gets the same upstream work: requests to the mock and to the floor name the model
``claude-opus-5-5`` that the gateway's ``opus`` resolves to, so the mock answers the same text
(and the same number of SSE events) whichever way a request came.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from loadgen import Target
from procs import BENCH, HOST, Servers, free_port, gateway_command, python

UPSTREAM_MODEL = "claude-opus-5-5"
TOKEN = secrets.token_urlsafe(24)  # the gateway's auth.token for this run
UPSTREAM_KEY = "bench-upstream-key"
JSON_HEADERS = {"content-type": "application/json"}

# The slow-stream mock: an event every 5 ms. The mock splits its answer
# "MOCK_REPLY[claude-opus-5-5]: <text>" (29 + len(text) characters) into at most --chunks text
# deltas and adds 6 other events; with a 16-character text and 45 chunks that is 51 events,
# which the mock's 5 ms sleeps (5.1 ms each, measured) stretch to ~260 ms per stream.
SLOW_DELAY = 0.005
SLOW_CHUNKS = 45
SLOW_TEXT = "hello slow world"


def messages_body(model: str, stream: bool, text: str = "hello") -> bytes:
    body: dict[str, object] = {
        "model": model,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": text}],
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def chat_body(model: str, stream: bool) -> bytes:
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def base_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def direct_target(port: int, stream: bool, text: str = "hello") -> Target:
    """POST /v1/messages straight to the mock or the floor app."""
    body = messages_body(UPSTREAM_MODEL, stream, text)
    return Target(f"{base_url(port)}/v1/messages", body, JSON_HEADERS)


def passthrough_target(port: int, stream: bool, text: str = "hello") -> Target:
    """The gateway's relay path: an Anthropic client to an Anthropic upstream."""
    headers = {**JSON_HEADERS, "x-api-key": TOKEN}
    return Target(f"{base_url(port)}/v1/messages", messages_body("opus", stream, text), headers)


def translating_target(port: int, stream: bool) -> Target:
    """The gateway's translating path: an OpenAI Chat client to an Anthropic upstream."""
    headers = {**JSON_HEADERS, "authorization": f"Bearer {TOKEN}"}
    return Target(f"{base_url(port)}/v1/chat/completions", chat_body("opus", stream), headers)


def gateway_config(mock_port: int, access_log: Path) -> str:
    """Auth and access log on, as the targets require; the key and token come from the env."""
    return f"""\
version: 1
sinks:
  up:
    kind: http
    base_url: {base_url(mock_port)}
    dialect: anthropic.messages
    headers:
      x-api-key: ${{BENCH_UPSTREAM_KEY}}
models:
  - name: opus
    target: {UPSTREAM_MODEL}
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
auth:
  token: ${{BENCH_TOKEN}}
access_log:
  path: {access_log}
"""


def start_mock(servers: Servers, name: str, delay: float = 0.0, chunks: int | None = None) -> int:
    port = free_port()
    command = [python(), "tests/mock_upstream.py", "--port", str(port)]
    if delay:
        command += ["--delay", str(delay)]
    if chunks is not None:
        command += ["--chunks", str(chunks)]
    servers.start(name, command, port)
    return port


def start_floor(servers: Servers, name: str, upstream_port: int, client: str = "aiohttp") -> int:
    port = free_port()
    command = [python(), str(BENCH / "floor_app.py"), "--port", str(port)]
    command += ["--upstream", base_url(upstream_port), "--client", client]
    servers.start(name, command, port, probe="/health")
    return port


def start_gateway(servers: Servers, name: str, upstream_port: int) -> int:
    port = free_port()
    config = servers.logdir / f"{name}.yaml"
    config.write_text(gateway_config(upstream_port, servers.logdir / f"{name}-access.log"))
    env = {"BENCH_UPSTREAM_KEY": UPSTREAM_KEY, "BENCH_TOKEN": TOKEN, "LOG_LEVEL": "WARNING"}
    command = [*gateway_command(), "serve", "--config", str(config), "--port", str(port)]
    servers.start(name, command, port, env=env, probe="/health")
    return port
