"""An Anthropic client on an Anthropic upstream, decoded instead of passed through (a route with
a request transform): what the neutral form carries must reach the upstream the same."""

from __future__ import annotations

import anthropic
import pytest

from gateway import ir
from gateway.errors import UpstreamError
from gateway.sinks.http.anthropic_upstream import decode_response
from gateway.wire.turns import results_follow_calls

ROUTES = """
version: 1
sinks:
  up:
    kind: http
    base_url: ${MOCK_URL}
    dialect: anthropic.messages
models:
  - name: opus
routes:
  - path: /v1/messages
    dialect: anthropic.messages
    transforms:
      request: [same]
transforms:
  same:
    python: same.py:transform
access_log:
  enabled: false
"""


@pytest.fixture
def claude(mock, serve, write_config, monkeypatch, tmp_path):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    (tmp_path / "transforms").mkdir()
    (tmp_path / "transforms" / "same.py").write_text(
        "def transform(payload, context):\n    return payload\n"
    )
    served = serve(write_config(ROUTES))
    return anthropic.Anthropic(base_url=served.url, api_key="x", max_retries=0)


def test_system_turns_output_config_and_documents_survive_decoding(claude, mock):
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "doc"},
        "title": "t",
    }
    claude.messages.create(
        model="opus",
        max_tokens=9,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Q1"}, document]},
            {"role": "system", "content": "NOTE", "output_config": {"effort": "low"}},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"},
        ],
        output_config={
            "format": {"type": "json_schema", "schema": {"type": "object"}},
            "effort": "high",
        },
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    body = mock.messages_requests()[-1].body
    assert [m["role"] for m in body["messages"]] == ["user", "system", "assistant", "user"]
    assert body["messages"][0]["content"][1] == document
    assert body["messages"][1]["content"] == [{"type": "text", "text": "NOTE"}]
    # The last per-turn effort holds for the answer; the format and thinking are kept.
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": {"type": "object"}},
        "effort": "low",
    }
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_a_system_turn_never_separates_a_tool_call_from_its_result():
    call = ir.Message("assistant", [ir.ToolUse("t1", "f", {})])
    result = ir.Message("user", [ir.ToolResult("t1", [ir.Text("r")])])
    note = ir.Message("system", [ir.Text("S")])
    question = ir.Message("user", [ir.Text("Q")])
    assert results_follow_calls([question, call, note, result]) == [question, call, result, note]
    assert results_follow_calls([question, note, call, result]) == [question, note, call, result]


@pytest.mark.parametrize(
    "body",
    [[1, 2], "text", None, {"content": 5}, {"content": [], "usage": "x"}, {"id": 1, "content": []}],
)
def test_an_answer_of_the_wrong_shape_is_an_upstream_error_never_a_crash(body):
    try:
        response = decode_response(body)
    except UpstreamError as error:
        assert error.status == 502 and "cannot read" in error.message
    else:  # what can be read is read, with the wrong types left out
        assert response.id == "" and response.usage == ir.Usage()
