"""The usage of a relayed stream is found whatever the chunking."""

from __future__ import annotations

import pytest

from gateway.flow.relay import UsageSniffer

ANTHROPIC = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":11,"output_tokens":1,"cache_read_input_tokens":4}}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"usage is a word"}}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n'
)
OPENAI = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":2}}}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("size", [1, 2, 5, 17, 64, 100_000])
def test_usage_survives_any_chunking(size):
    for stream, expected in ((ANTHROPIC, (11, 7, 4)), (OPENAI, (18, 5, 2))):
        sniffer = UsageSniffer()
        for start in range(0, len(stream), size):
            sniffer.feed(stream[start : start + size])
        usage = sniffer.usage
        assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == expected


@pytest.mark.parametrize("size", [1, 3, 17, 100_000])
def test_a_usage_chunk_the_client_did_not_ask_for_is_not_relayed(size):
    sniffer = UsageSniffer(strip_usage_chunk=True)
    relayed = b"".join(sniffer.feed(OPENAI[i : i + size]) for i in range(0, len(OPENAI), size))
    relayed += sniffer.rest()
    assert relayed == OPENAI.replace(OPENAI.split(b"\n\n")[1] + b"\n\n", b"")
    assert (sniffer.usage.input_tokens, sniffer.usage.output_tokens) == (18, 5)


def test_without_stripping_chunks_are_relayed_as_they_came():
    sniffer = UsageSniffer()
    assert [sniffer.feed(OPENAI[i : i + 7]) for i in range(0, len(OPENAI), 7)] == [
        OPENAI[i : i + 7] for i in range(0, len(OPENAI), 7)
    ]
    assert sniffer.rest() == b""


def test_a_line_longer_than_what_is_held_back_goes_on_whole():
    # A base64 image in one delta, in 700 kB reads: nothing of it may be lost.
    big = b'data: {"choices":[{"delta":{"content":"' + b"x" * 1_500_000 + b'"}}]}\n\n'
    stream = big + OPENAI
    sniffer = UsageSniffer(strip_usage_chunk=True)
    size = 700_000
    relayed = b"".join(sniffer.feed(stream[i : i + size]) for i in range(0, len(stream), size))
    relayed += sniffer.rest()
    assert relayed == big + OPENAI.replace(OPENAI.split(b"\n\n")[1] + b"\n\n", b"")


# --- A malformed upstream answer is relayed as it came, and counted (issue 25, row 9) ----------

START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message",'
    b'"role":"assistant","model":"claude-opus-5-5","content":[],"usage":{"input_tokens":3,'
    b'"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"hi"}}\n\n'
)
END = (
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":2}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
MALFORMED_ANSWERS = {
    "no message_stop": (START, "text/event-stream", "it ended without event: message_stop"),
    "a broken data event": (
        START + b'event: content_block_delta\ndata: {"type":"content_block_delta","ind\n\n' + END,
        "text/event-stream",
        "a data: line that is not a JSON object",
    ),
    "a body that is not JSON": (b"<html>upstream</html>", "text/html", "not a JSON object"),
}


@pytest.fixture(scope="module")
def relaying(upstream, tmp_path_factory):
    from server import ServedApp

    from gateway.app import create_app
    from gateway.config import load_config

    folder = tmp_path_factory.mktemp("relay")
    (folder / "routes.yaml").write_text(
        f"""
version: 1
sinks:
  api: {{kind: http, base_url: "{upstream.base_url}", dialect: anthropic.messages}}
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
access_log:
  path: {folder / "access.log"}
usage:
  path: {folder / "usage.db"}
"""
    )
    app = create_app(load_config(folder / "routes.yaml"))
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    served.folder = folder
    yield served
    served.stop()


@pytest.mark.parametrize("case", MALFORMED_ANSWERS)
def test_a_malformed_answer_is_relayed_untouched_and_counted(relaying, upstream, case, caplog):
    import json
    import sqlite3

    import httpx
    from metrics_text import value
    from mock_upstream import Reply
    from waiting import wait_until

    raw, content_type, problem = MALFORMED_ANSWERS[case]
    marker = f"malformed-{len(raw)}"
    upstream.when(marker, Reply(raw=raw, raw_content_type=content_type))
    body = {"model": "claude-opus-5-5", "max_tokens": 5, "stream": content_type != "text/html",
            "messages": [{"role": "user", "content": marker}]}  # fmt: skip
    before = value(httpx.get(relaying.url + "/metrics").text, "gateway_request_errors_total",
                   sink="api", kind="malformed_upstream_answer")  # fmt: skip
    answer = httpx.post(relaying.url + "/v1/messages", json=body, timeout=30)
    assert (answer.status_code, answer.content) == (200, raw)  # the bytes, as they came

    def logged() -> list[dict]:
        lines = (relaying.folder / "access.log").read_text().splitlines()
        return [json.loads(line) for line in lines if json.loads(line)["status"] == 200]

    assert wait_until(lambda: len(logged()) > 0 and logged()[-1]["model"] == "claude-opus-5-5",
                      "the access log line", 15)  # fmt: skip
    assert logged()[-1]["error"] == "malformed_upstream_answer"
    assert problem in caplog.text and "relayed as it came" in caplog.text
    metrics = httpx.get(relaying.url + "/metrics").text
    kind = {"sink": "api", "kind": "malformed_upstream_answer"}
    assert value(metrics, "gateway_request_errors_total", **kind) == before + 1
    httpx.get(relaying.url + "/dashboard/data")  # writes the pending rows
    with sqlite3.connect(relaying.folder / "usage.db") as ledger:
        [last] = ledger.execute(
            "SELECT status, error_kind FROM gateway_requests ORDER BY ts DESC LIMIT 1"
        ).fetchall()
    assert last == (200, "malformed_upstream_answer")


def test_a_whole_stream_is_not_malformed(relaying, upstream, caplog):
    import httpx
    from mock_upstream import Reply

    upstream.when("well-formed", Reply(raw=START + END))
    body = {"model": "claude-opus-5-5", "max_tokens": 5, "stream": True,
            "messages": [{"role": "user", "content": "well-formed"}]}  # fmt: skip
    answer = httpx.post(relaying.url + "/v1/messages", json=body, timeout=30)
    assert answer.content == START + END and "malformed" not in caplog.text


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_the_shape_is_judged_whatever_the_chunking(size):
    from gateway.flow.relay_check import StreamShape

    for stream, expected in (
        (START + END, None),
        (START, "ended without"),
        (START + b"data: {broken\n\n" + END, "not a JSON object"),
        (START + END[:-3], "middle of a line"),
        (OPENAI, None),
        (OPENAI[: -len(b"data: [DONE]\n\n")], "ended without data: [DONE]"),
    ):
        shape = StreamShape(anthropic=stream is not OPENAI and not stream.startswith(b"data: {"))
        sniffer = UsageSniffer(shape=shape)
        for start in range(0, len(stream), size):
            sniffer.feed(stream[start : start + size])
        verdict = shape.verdict(sniffer.unfinished)
        assert (verdict is None) if expected is None else (expected in verdict), (stream, verdict)
