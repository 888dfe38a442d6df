"""Each dialect's codec, pure: a client's body into the IR, and an IR answer back out."""

import json

import pytest

from gateway import ir
from gateway.dialects import ANTHROPIC, DIALECTS, OPENAI, error_encoder, error_family
from gateway.errors import InvalidRequest, RateLimited

TOOL = {"name": "lookup", "description": "d", "input_schema": {"type": "object"}}
ANSWER = ir.Response(
    id="msg_1",
    model="claude-opus-5-5",
    content=[ir.Text("hi"), ir.ToolUse("toolu_1", "lookup", {"q": "x"})],
    stop_reason="tool_use",
    usage=ir.Usage(11, 7),
)


def test_chat_decodes_every_turn_the_system_prompt_and_the_parameters():
    request = DIALECTS["openai.chat"].decode_request(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": "two"},
                {"role": "user", "content": "three"},
            ],
            "max_completion_tokens": 50,
            "temperature": 0.2,
            "stop": "END",
            "tools": [{"type": "function", "function": {**TOOL, "parameters": {"type": "object"}}}],
        }
    )
    assert request.system == "be brief"
    assert [(m.role, m.content[0].text) for m in request.messages] == [
        ("user", "one"), ("assistant", "two"), ("user", "three"),
    ]  # fmt: skip
    assert (request.max_tokens, request.temperature, request.stop) == (50, 0.2, ["END"])
    assert [tool.name for tool in request.tools] == ["lookup"]


def test_anthropic_round_trips_its_own_shape():
    request = DIALECTS["anthropic.messages"].decode_request(
        {
            "model": "opus",
            "max_tokens": 9,
            "system": "s",
            "tools": [TOOL],
            "messages": [{"role": "user", "content": "q"}],
        }
    )
    assert request.system == "s" and request.max_tokens == 9
    body = DIALECTS["anthropic.messages"].encode_response(ANSWER, request)
    assert body["content"] == [
        {"type": "text", "text": "hi"},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
    ]
    assert body["stop_reason"] == "tool_use" and body["usage"]["input_tokens"] == 11


def test_chat_and_responses_encode_a_tool_call_in_their_own_shapes():
    chat_request = DIALECTS["openai.chat"].decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    )
    chat = DIALECTS["openai.chat"].encode_response(ANSWER, chat_request)
    choice = chat["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    function = choice["message"]["tool_calls"][0]["function"]
    assert function["name"] == "lookup" and json.loads(function["arguments"]) == {"q": "x"}
    responses_request = DIALECTS["openai.responses"].decode_request({"model": "m", "input": "q"})
    output = DIALECTS["openai.responses"].encode_response(ANSWER, responses_request)["output"]
    assert [item["type"] for item in output] == ["message", "function_call"]


def test_a_bad_body_is_an_invalid_request_naming_the_field():
    with pytest.raises(InvalidRequest) as caught:
        DIALECTS["anthropic.messages"].decode_request({"model": "opus", "messages": "no"})
    assert caught.value.param is not None


@pytest.mark.parametrize(
    ("family", "headers", "expected"),
    [
        (ANTHROPIC, {}, ANTHROPIC),
        (OPENAI, {"anthropic-version": "1"}, OPENAI),
        (None, {"anthropic-version": "1"}, ANTHROPIC),
        (None, {}, OPENAI),
    ],
)
def test_the_error_family_is_the_endpoint_s_else_a_guess_from_the_headers(
    family, headers, expected
):
    assert error_family(family, headers) == expected


def test_each_family_renders_a_rate_limit_in_its_shape():
    error = RateLimited("slow down")
    status, anthropic_body = error_encoder(ANTHROPIC, {})(error)
    assert status == 429 and anthropic_body["error"]["type"] == "rate_limit_error"
    status, openai_body = error_encoder(OPENAI, {})(error)
    assert status == 429 and openai_body["error"]["message"] == "slow down"


def test_the_structured_outputs_betas_output_format_is_output_config_format():
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    beta = {"type": "json_schema", "schema": schema}
    request = DIALECTS["anthropic.messages"].decode_request({**body, "output_format": beta})
    assert request.output_format == ir.OutputFormat(schema) and request.extra == {}
    with pytest.raises(InvalidRequest) as caught:
        DIALECTS["anthropic.messages"].decode_request(
            {**body, "output_format": beta, "output_config": {"format": beta}}
        )
    assert caught.value.param == "output_format"
