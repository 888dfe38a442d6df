"""A sink from a plugin gets every capability through the Sink base class, as the built-in HTTP
sink does: its own options schema, byte relay, its backend's model list and token counting."""

from __future__ import annotations

import anthropic
import openai
import pytest
from server import ServedApp

from gateway.app import create_app
from gateway.config import load_config
from gateway.config.yaml_source import ConfigError
from gateway.server.plugins import build_plugin_manager
from gateway.server.runtime import build_runtime

PLUGIN = '''
import json

from gateway import ir
from gateway.hookspecs import hookimpl
from gateway.sinks.base import ModelEntry, Sink


def words(request: ir.Request) -> list[str]:
    return [
        word
        for message in request.messages
        for block in message.content
        if isinstance(block, ir.Text)
        for word in block.text.split()
    ]


class Answer:
    """A whole JSON answer (the RawAnswer protocol)."""

    streaming = False

    def __init__(self, body: dict) -> None:
        self.status, self.headers = 200, {"content-type": "application/json"}
        self.body = json.dumps(body).encode()
        self.closed = False

    async def chunks(self):
        yield self.body

    def close(self) -> None:
        self.closed = True


class EchoSink(Sink):
    kind = "echo"
    options_schema = {
        "type": "object",
        "properties": {"kind": {}, "greeting": {"type": "string"}},
        "required": ["greeting"],
        "additionalProperties": False,
    }
    forwards_unknown_models = True

    def relays(self, endpoint: str) -> bool:
        return endpoint == "anthropic.messages"

    async def forward(self, endpoint, method, query, headers, body):
        sent = json.loads(body)
        text = f"{self.options['greeting']}: relayed {sent['model']} as {endpoint}"
        return Answer({
            "id": "msg_echo", "type": "message", "role": "assistant", "model": sent["model"],
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 4},
        })

    def upstream_model(self, model: str) -> str:
        return "echo-" + model

    async def list_models(self):
        return [ModelEntry("echo-1", 1700000000, "Echo One"), ModelEntry("echo-2")]

    async def count_tokens(self, request: ir.Request) -> int:
        return len(words(request))

    async def stream(self, request: ir.Request):
        yield ir.MessageStart("msg_echo", request.model)
        yield ir.BlockStart(0, ir.Text(""))
        yield ir.TextDelta(0, f"{self.options['greeting']}: streamed {' '.join(words(request))}")
        yield ir.BlockStop(0)
        yield ir.MessageDelta("end_turn", usage=ir.Usage(input_tokens=1, output_tokens=2))
        yield ir.MessageStop()


@hookimpl
def gateway_register_sinks():
    return {"echo": EchoSink}
'''

ROUTES = """
version: 1
default_sink: echo
sinks:
  echo:
    kind: echo
    greeting: {greeting}
  openai-up:
    kind: http
    dialect: openai.chat
    base_url: http://127.0.0.1:9
models:
  - name: any-model
  - name: gpt-x
    sink: openai-up
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
  - path: /v1/messages/count_tokens
    dialect: anthropic.count_tokens
mounts:
  - prefix: /echo
    sink: echo
access_log:
  enabled: false
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("plugin_sink")
    (folder / "hooks").mkdir()
    (folder / "hooks" / "echo_sink.py").write_text(PLUGIN)
    (folder / "routes.yaml").write_text(ROUTES.format(greeting="hello"))
    app = create_app(load_config(folder / "routes.yaml"))
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    yield served
    served.stop()


def test_its_options_are_checked_against_its_own_schema(tmp_path):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "echo_sink.py").write_text(PLUGIN)
    (tmp_path / "routes.yaml").write_text(ROUTES.format(greeting="[1, 2]"))
    config = load_config(tmp_path / "routes.yaml")
    with pytest.raises(ConfigError) as error:
        build_runtime(config, build_plugin_manager(config))
    assert "sinks.echo.greeting" in str(error.value)
    assert "is not of type 'string'" in str(error.value)


def test_it_relays_bytes_untouched_for_the_endpoints_it_names(gateway):
    client = anthropic.Anthropic(base_url=gateway.url + "/echo", api_key="k")
    message = client.messages.create(
        model="any-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == "hello: relayed echo-any-model as anthropic.messages"


def test_other_endpoints_are_translated_through_its_stream(gateway):
    client = openai.OpenAI(base_url=gateway.url + "/echo/v1", api_key="k")
    answer = client.chat.completions.create(
        model="any-model", messages=[{"role": "user", "content": "two words"}]
    )
    assert answer.choices[0].message.content == "hello: streamed two words"


def test_it_lists_its_backends_models_in_each_clients_shape(gateway):
    listed = anthropic.Anthropic(base_url=gateway.url + "/echo", api_key="k").models.list()
    assert [(m.id, m.display_name) for m in listed.data] == [
        ("echo-1", "Echo One"),
        ("echo-2", "echo-2"),
    ]
    assert listed.data[0].created_at.year == 2023
    openai_list = openai.OpenAI(base_url=gateway.url + "/echo/v1", api_key="k").models.list()
    assert [m.id for m in openai_list.data] == ["echo-1", "echo-2"]
    # Without a sink that lists its own, the models of routes.yaml are listed.
    own = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k").models.list()
    assert [m.id for m in own.data] == ["any-model", "gpt-x"]


def test_it_counts_tokens(gateway):
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k")
    counted = client.messages.count_tokens(
        model="any-model",
        messages=[
            {"role": "user", "content": "one two three"},
            {"role": "assistant", "content": "four"},
            {"role": "user", "content": "five six"},
        ],
    )
    assert counted.input_tokens == 6


def test_a_sink_that_cannot_count_says_so_in_the_clients_shape(gateway):
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as error:
        client.messages.count_tokens(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
    assert "The sink 'openai-up' (http) cannot count tokens" in error.value.message
