"""An OpenAI upstream's tool-call deltas as tool_use blocks, however the server numbers them."""

from __future__ import annotations

import json

from gateway import ir
from gateway.sinks.http.openai_upstream import StreamDecoder
from gateway.wire.sse import ServerSentEvent


def _calls(*deltas: dict) -> list[ir.ToolUse]:
    decoder = StreamDecoder()
    chunks = [{"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [d]}}]}
              for d in deltas]  # fmt: skip
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    builder = ir.ResponseBuilder()
    for chunk in chunks:
        for event in decoder.decode(ServerSentEvent(None, json.dumps(chunk))):
            builder.add(event)
    for event in decoder.decode(ServerSentEvent(None, "[DONE]")):
        builder.add(event)
    return [block for block in builder.build().content if isinstance(block, ir.ToolUse)]


def _fn(**fields: str) -> dict:
    return {"type": "function", "function": fields}


def test_a_call_whose_id_is_repeated_on_every_delta_stays_one_call():
    calls = _calls(
        {"index": 0, "id": "call_1", **_fn(name="get_weather", arguments="")},
        {"index": 0, "id": "call_1", **_fn(arguments='{"city":')},
        {"index": 0, "id": "call_1", **_fn(arguments='"Paris"}')},
    )
    assert [(c.id, c.name, c.input) for c in calls] == [
        ("call_1", "get_weather", {"city": "Paris"})
    ]


def test_calls_told_apart_by_index_or_by_a_new_id_at_the_same_index():
    by_index = _calls(
        {"index": 0, "id": "a", **_fn(name="one", arguments="{}")},
        {"index": 1, "id": "b", **_fn(name="two", arguments="{}")},
    )
    all_zero = _calls(
        {"index": 0, "id": "a", **_fn(name="one", arguments="{}")},
        {"index": 0, "id": "b", **_fn(name="two", arguments="{}")},
    )
    assert [(c.id, c.name) for c in by_index] == [("a", "one"), ("b", "two")]
    assert [(c.id, c.name) for c in all_zero] == [("a", "one"), ("b", "two")]
