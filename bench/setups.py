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

# The slow-stream mock: an event every 5 ms, ~260 ms per stream. The mock sleeps --delay before
# each event; its event loop rounds that up to ~5.5 ms (measured at c=1: --delay 0.005 gives
# 5.5 ms, 0.0045 also 5.6 ms, 0.004 gives 4.4 ms), so the delay stays 0.005 and the length is
# tuned instead. The mock splits "MOCK_REPLY[claude-opus-5-5]: <text>" (29 + len(text)
# characters) into at most --chunks text deltas and adds 6 other events: a 12-character text
# and 41 chunks give 41 + 6 = 47 events, 47 x 5.5 ms = ~260 ms. run.py prints the measured
# figures of every run (its "Slow streams" line).
SLOW_DELAY = 0.005
SLOW_CHUNKS = 41
SLOW_TEXT = "hello, slow!"

# The fast streams: 50-event bursts, as the issue measured. A 15-character text makes the
# answer 29 + 15 = 44 characters, split into 44 one-character deltas, + 6 other events = 50,
# written by the mock without pauses (many events arrive in one read).
BURST_CHUNKS = 44
BURST_TEXT = "hello, burst!!!"


def messages_body(model: str, stream: bool, text: str = "hello") -> bytes:
    body: dict[str, object] = {
        "model": model,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": text}],
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def chat_body(model: str, stream: bool, text: str = "hello") -> bytes:
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": text}]}
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


def translating_target(port: int, stream: bool, text: str = "hello") -> Target:
    """The gateway's translating path: an OpenAI Chat client to an Anthropic upstream."""
    headers = {**JSON_HEADERS, "authorization": f"Bearer {TOKEN}"}
    body = chat_body("opus", stream, text)
    return Target(f"{base_url(port)}/v1/chat/completions", body, headers)


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
    servers.start(name, command, port, role="upstream")
    return port


def start_floor(servers: Servers, name: str, upstream_port: int, client: str = "aiohttp") -> int:
    port = free_port()
    command = [python(), str(BENCH / "floor_app.py"), "--port", str(port)]
    command += ["--upstream", base_url(upstream_port), "--client", client]
    servers.start(name, command, port, probe="/health")
    return port


def start_gateway(servers: Servers, name: str, upstream_port: int) -> int:
    config = servers.logdir / f"{name}.yaml"
    config.write_text(gateway_config(upstream_port, servers.logdir / f"{name}-access.log"))
    return start_gateway_config(servers, name, config)


def gateway_env() -> dict[str, str]:
    """The environment the bench configs read their upstream key and auth token from."""
    return {"BENCH_UPSTREAM_KEY": UPSTREAM_KEY, "BENCH_TOKEN": TOKEN, "LOG_LEVEL": "WARNING"}


def start_gateway_config(servers: Servers, name: str, config: Path) -> int:
    """A gateway serving ``config`` (its transforms/ and schemas/ lie next to it)."""
    port = free_port()
    command = [*gateway_command(), "serve", "--config", str(config), "--port", str(port)]
    servers.start(name, command, port, env=gateway_env(), probe="/health")
    return port


# --- the transforms benchmark (bench/transforms.py) --------------------------------------------

TRANSFORMED_PREFIX = "/x"  # the translating route again, with two Jinja transforms and schemas
CUSTOM_PATH = "/x/api/chat"  # a custom route: {"prompt"} in, {"response", ...} out


def _schema(required: list[str], properties: dict[str, object], closed: bool = False) -> str:
    schema: dict[str, object] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": required,
        "properties": properties,
    }
    if closed:
        schema["additionalProperties"] = False
    return json.dumps(schema, indent=2) + "\n"


_MESSAGES = {"type": "array", "minItems": 1, "items": {"type": "object"}}
_USAGE = {"type": "object", "required": ["input_tokens", "output_tokens"]}

# Paths relative to the directory of the routes file; transforms/*.j2 and schemas/*.json.
TRANSFORM_FILES = {
    # (t2): the neutral request with a system prompt added; the neutral response, rebuilt.
    "transforms/req.j2": '{{ dict(payload, system="You are terse.") | json }}\n',
    "transforms/resp.j2": "{{ dict(payload, text=payload.text) | json }}\n",
    "schemas/neutral.request.json": _schema(
        ["messages", "model"], {"model": {"type": "string", "minLength": 1}, "messages": _MESSAGES}
    ),
    "schemas/neutral.response.json": _schema(
        ["text", "usage"], {"text": {"type": "string"}, "usage": _USAGE}
    ),
    # (c): like the repo's /api/chat (transforms/chat_*.j2, schemas/api_chat.*.json).
    "transforms/prompt_request.j2": """\
{
  {%- if payload.model is defined %}"model": {{ payload.model | json }},{% endif %}
  {%- if payload.system is defined %}"system": {{ payload.system | json }},{% endif %}
  {%- if payload.max_tokens is defined %}"max_tokens": {{ payload.max_tokens | json }},{% endif %}
  "messages": [{"role": "user", "content": {{ payload.prompt | json }}}],
  "stream": {{ payload.stream | default(false) | json }}
}
""",
    "transforms/prompt_response.j2": (
        '{"response": {{ payload.text | json }}, "model": {{ payload.model | json }}, '
        '"usage": {{ payload.usage | json }}}\n'
    ),
    "schemas/prompt.request.json": _schema(
        ["prompt"],
        {
            "prompt": {"type": "string", "minLength": 1},
            "model": {"type": "string", "minLength": 1},
            "system": {"type": "string"},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 128000},
            "stream": {"type": "boolean"},
        },
        closed=True,
    ),
    "schemas/prompt.neutral.json": _schema(["messages"], {"messages": _MESSAGES}),
    "schemas/prompt.response.json": _schema(
        ["response", "model", "usage"],
        {"response": {"type": "string"}, "model": {"type": "string"}, "usage": _USAGE},
        closed=True,
    ),
}


def transforms_config(mock_port: int, access_log: Path) -> str:
    """gateway_config's routes, plus (t2) and (c) with their transforms; the same sink."""
    return gateway_config(mock_port, access_log).replace(
        "auth:\n",
        f"""\
  - path: {TRANSFORMED_PREFIX}/v1/chat/completions
    dialect: openai.chat
    transforms: {{request: [req], response: [resp]}}
  - path: {CUSTOM_PATH}
    dialect: custom
    model: opus
    transforms: {{request: [prompt_request], response: [prompt_response]}}
transforms:
  req:
    template: req.j2
    input_schema: neutral.request.json
    output_schema: neutral.request.json
  resp:
    template: resp.j2
    input_schema: neutral.response.json
    output_schema: neutral.response.json
  prompt_request:
    template: prompt_request.j2
    input_schema: prompt.request.json
    output_schema: prompt.neutral.json
  prompt_response:
    template: prompt_response.j2
    input_schema: neutral.response.json
    output_schema: prompt.response.json
auth:
""",
        1,
    )


def write_transforms_config(directory: Path, mock_port: int, access_log: Path) -> Path:
    """routes.yaml, transforms/ and schemas/ in ``directory``; returns the routes file."""
    for relative, text in TRANSFORM_FILES.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    config = directory / "routes.yaml"
    config.write_text(transforms_config(mock_port, access_log))
    return config


def start_transforms_gateway(servers: Servers, name: str, upstream_port: int) -> int:
    directory = servers.logdir / f"{name}-config"
    access_log = servers.logdir / f"{name}-access.log"
    return start_gateway_config(
        servers, name, write_transforms_config(directory, upstream_port, access_log)
    )


def transformed_target(port: int) -> Target:
    """(t2): the translating path through two Jinja transforms and four schema checks."""
    headers = {**JSON_HEADERS, "authorization": f"Bearer {TOKEN}"}
    url = f"{base_url(port)}{TRANSFORMED_PREFIX}/v1/chat/completions"
    return Target(url, chat_body("opus", False), headers)


def custom_target(port: int) -> Target:
    """(c): a custom route, {"prompt"} in, {"response", "model", "usage"} out."""
    headers = {**JSON_HEADERS, "authorization": f"Bearer {TOKEN}"}
    body = json.dumps({"prompt": "hello", "max_tokens": 16}, separators=(",", ":")).encode()
    return Target(f"{base_url(port)}{CUSTOM_PATH}", body, headers)
