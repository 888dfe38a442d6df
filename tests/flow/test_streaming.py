"""Translated streams: the events of one upstream read go out in one write, nothing held back.

A scripted upstream writes a whole 50-event answer in one TCP write (a burst), or writes the
first events and then waits until the test's client has seen them (gated). The client reads the
gateway's raw SSE bytes.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from server import ServedApp

from gateway import ir
from gateway.app import create_app
from gateway.config import load_config
from gateway.dialects import DIALECTS
from gateway.flow.stream import _send_batch
from gateway.sinks.http.sink import HttpSink

WORDS = [f"w{n:02d} " for n in range(44)]  # 44 text deltas + 6 other events = 50 events
GATE_TIMEOUT = 30.0  # generous: only a broken relay ever waits this long


class ScriptedUpstream:
    """An Anthropic (``/a``) and an OpenAI (``/o``) upstream on one port, in a thread."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.peers: list[Any] = []  # the client address of each request: reused connections
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> ScriptedUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/a/v1/messages", self._anthropic)
        app.router.add_post("/o/chat/completions", self._openai)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await self._send(request, body, _anthropic_events(body["model"]))

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await self._send(request, body, _openai_events(body["model"]))

    async def _send(
        self, request: web.Request, body: dict[str, Any], events: list[bytes]
    ) -> web.StreamResponse:
        self.peers.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        if "FAILING" in json.dumps(body["messages"]):  # two words, then an error, in one write
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
            events = [*events[:5], _sse(error, "error")]
        elif "GATED" in json.dumps(body["messages"]):
            first_text = 4 if request.path.startswith("/a/") else 2  # events up to the first word
            await response.write(b"".join(events[:first_text]))
            if not await asyncio.to_thread(self.gate.wait, GATE_TIMEOUT):
                return response  # the test fails on its own side
            events = events[first_text:]
        await response.write(b"".join(events))  # the rest in one write
        await response.write_eof()
        return response


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _anthropic_events(model: str) -> list[bytes]:
    def event(kind: str, **payload: Any) -> bytes:
        return _sse({"type": kind, **payload}, kind)

    usage = {"input_tokens": 5, "output_tokens": 1}
    message = {"id": "msg_burst", "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}  # fmt: skip
    return [
        event("message_start", message=message),
        event("ping"),
        event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        *(
            event("content_block_delta", index=0, delta={"type": "text_delta", "text": word})
            for word in WORDS
        ),
        event("content_block_stop", index=0),
        event(
            "message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},
            usage={"output_tokens": 44},
        ),
        event("message_stop"),
    ]


def _openai_events(model: str) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse({"id": "chatcmpl-burst", "model": model, "choices": [choice]})

    usage = {"prompt_tokens": 5, "completion_tokens": 44}
    return [
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"content": word}) for word in WORDS),
        chunk({}, "stop"),
        _sse({"id": "chatcmpl-burst", "model": model, "choices": [], "usage": usage}),
        b"data: [DONE]\n\n",
    ]


ROUTES = """
version: 1
sinks:
  anthropic-up:
    kind: http
    base_url: http://127.0.0.1:{port}/a
    dialect: anthropic.messages
  openai-up:
    kind: http
    base_url: http://127.0.0.1:{port}/o
    dialect: openai.chat
models:
  - name: claude-x
    sink: anthropic-up
  - name: gpt-x
    sink: openai-up
routes:
  - path: /v1/chat/completions
    dialect: openai.chat
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/responses
    dialect: openai.responses
access_log:
  enabled: false
"""


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gateway(scripted: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("streaming") / "routes.yaml"
    path.write_text(ROUTES.format(port=scripted.port))
    app = create_app(load_config(path))
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    yield served.url
    served.stop()


# The client's path and body for each translated pair: client dialect <- upstream dialect.
PAIRS = {
    "openai.chat<-anthropic": ("/v1/chat/completions", "claude-x"),
    "anthropic<-openai.chat": ("/v1/messages", "gpt-x"),
    "openai.responses<-anthropic": ("/v1/responses", "claude-x"),
}


def _request(pair: str, text: str) -> tuple[str, dict[str, Any]]:
    path, model = PAIRS[pair]
    if path == "/v1/responses":
        return path, {"model": model, "input": text, "stream": True}
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if path == "/v1/messages":
        body["max_tokens"] = 100
    return path, {**body, "stream": True}


def _events(raw: bytes) -> list[tuple[str | None, Any]]:
    """Every SSE event of ``raw`` as (event name, parsed data); fails on a malformed one."""
    assert raw.endswith(b"\n\n"), raw[-200:]
    events = []
    for block in raw.decode().split("\n\n")[:-1]:
        name, data = None, []
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            assert field in ("event", "data"), f"malformed line {line!r}"
            if field == "event":
                name = value
            else:
                data.append(value)
        assert data, f"an event without data: {block!r}"
        text = "\n".join(data)
        events.append((name, text if text == "[DONE]" else json.loads(text)))
    return events


def _text_of(pair: str, events: list[tuple[str | None, Any]]) -> str:
    """The answer's text, delta by delta, in the client's dialect."""
    if pair.startswith("openai.chat"):
        deltas = [d["choices"][0]["delta"].get("content") for _, d in events if d != "[DONE]"]
        return "".join(t for t in deltas if t)
    if pair.startswith("anthropic"):
        return "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    return "".join(d["delta"] for n, d in events if n == "response.output_text.delta")


@pytest.mark.parametrize("pair", PAIRS)
def test_a_burst_reaches_the_client_whole_in_order_and_well_formed(gateway, pair):
    path, body = _request(pair, "BURST please")
    with httpx.Client(timeout=30) as client:
        response = client.post(gateway + path, json=body)
    assert response.status_code == 200, response.text
    events = _events(response.content)
    assert _text_of(pair, events) == "".join(WORDS)
    if pair.startswith("openai.chat"):
        assert events[-1] == (None, "[DONE]")
        finish = [d["choices"][0]["finish_reason"] for _, d in events[:-1] if d["choices"]]
        assert finish[-1] == "stop" and not any(finish[:-1])
    elif pair.startswith("anthropic"):
        assert events[-1][0] == "message_stop"
    else:
        assert events[-1][0] == "response.completed"


@pytest.mark.parametrize("pair", ["openai.chat<-anthropic", "anthropic<-openai.chat"])
def test_an_event_is_delivered_before_the_upstream_sends_the_next(gateway, scripted, pair):
    """The upstream sends the rest only once the client has the first word: a relay that
    held data back would leave both waiting, and the test would fail at the timeout."""
    scripted.gate.clear()
    path, body = _request(pair, "GATED please")
    received = b""
    client = httpx.Client(timeout=GATE_TIMEOUT + 10)
    with client, client.stream("POST", gateway + path, json=body) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        while WORDS[0].encode() not in received:
            received += next(chunks)  # StopIteration: the stream ended without it
        assert WORDS[1].encode() not in received  # the upstream has not sent it yet
        scripted.gate.set()
        for chunk in chunks:
            received += chunk
    assert _text_of(pair, _events(received)) == "".join(WORDS)


def test_events_read_with_an_upstream_error_go_out_before_it(gateway):
    """The words of the read that also brought the upstream's error reach the client, then
    the error in the client's own shape."""
    path, body = _request("openai.chat<-anthropic", "FAILING please")
    with httpx.Client(timeout=30) as client:
        response = client.post(gateway + path, json=body)
    events = _events(response.content)
    assert _text_of("openai.chat<-anthropic", events[:-1]) == WORDS[0] + WORDS[1]
    assert events[-1][1]["error"]["message"] == "busy"


def test_the_upstream_connection_is_reused_after_a_stream(gateway, scripted):
    """The gateway stops reading at the end of the message; the rest of the body (the last
    chunk) is still read, so that the connection goes back to the pool instead of closing."""
    path, body = _request("openai.chat<-anthropic", "BURST again")
    with httpx.Client(timeout=30) as client:
        for _ in range(3):
            assert client.post(gateway + path, json=body).status_code == 200
    assert len(set(scripted.peers[-3:])) == 1, scripted.peers[-3:]


def test_the_sink_hands_out_a_burst_in_few_batches(scripted, tmp_path):
    """One upstream write of 50 events arrives in a read or a few, not one read per event."""
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.format(port=scripted.port))
    sink = HttpSink(load_config(path).sinks["anthropic-up"])
    request = ir.Request("claude-x", [ir.Message("user", [ir.Text("BURST")])], stream=True)

    async def batches() -> list[list[ir.Event]]:
        await sink.start()
        try:
            return [batch async for batch in sink.stream_batches(request)]
        finally:
            await sink.close()

    got = asyncio.run(batches())
    events = [event for batch in got for event in batch]
    assert len(events) == 49  # ping is no IR event
    assert all(got) and len(got) < len(events) // 2
    assert "".join(e.text for e in events if isinstance(e, ir.TextDelta)) == "".join(WORDS)


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    async def send(self, data: bytes) -> None:
        self.writes.append(data)


def test_one_batch_is_one_write_and_the_ending_goes_with_the_last():
    request = ir.Request("m", [])
    encoder = DIALECTS["openai.chat"].stream_encoder(request)
    events: list[ir.Event] = [ir.MessageStart("msg_1", "m"), ir.BlockStart(0, ir.Text(""))]
    events += [ir.TextDelta(0, word) for word in WORDS]
    recorder, exchange = _Recorder(), _Exchange()
    assert not asyncio.run(_send_batch(recorder, encoder, exchange, events))
    assert len(recorder.writes) == 1
    assert _text_of("openai.chat<-anthropic", _events(recorder.writes[0])) == "".join(WORDS)
    tail = [ir.BlockStop(0), ir.MessageDelta("end_turn", usage=ir.Usage(1, 2)), ir.MessageStop()]
    assert asyncio.run(_send_batch(recorder, encoder, exchange, [*tail, ir.TextDelta(0, "x")]))
    assert len(recorder.writes) == 2
    assert _events(recorder.writes[1])[-1] == (None, "[DONE]")  # the ending, in the same write
    assert b'"x"' not in recorder.writes[1]  # nothing after the end of the message
    assert exchange.usage == ir.Usage(1, 2)


class _Exchange:
    usage: Any = None
    cost_usd: Any = None
