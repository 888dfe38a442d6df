"""Responses' state read off a body, pure: the references it makes and the body expanded with
what the store found (gateway/dialects/openai_responses_state.py)."""

from __future__ import annotations

import pytest

from gateway.dialects import openai_responses
from gateway.dialects import openai_responses_state as state
from gateway.errors import InvalidRequest, NotFound

REASONING = {
    "type": "reasoning",
    "id": "rs_a_0",
    "summary": [{"type": "summary_text", "text": "think"}],
    "encrypted_content": "claude-thinking:sig",
    "status": "completed",
}
ANSWER = {
    "type": "message",
    "id": "msg_a_1",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "earlier answer", "annotations": []}],
}


def test_references_names_the_previous_response_and_the_items_by_id():
    body = {
        "previous_response_id": "resp_a",
        "input": [
            {"type": "item_reference", "id": "msg_a_1"},
            {"id": "rs_a_0"},  # a reference whose type is left out
            {"type": "reasoning", "id": "rs_b_0", "summary": []},  # sent back by id alone
            {"type": "reasoning", "id": "rs_c_0", "summary": [], "encrypted_content": "x"},
            {"role": "user", "content": "next"},
        ],
    }
    found = state.references(body)
    assert found.previous_response_id == "resp_a"
    assert found.required == ["msg_a_1", "rs_a_0"]
    assert found.optional == ["rs_b_0"]  # a full item needs nothing from the store


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"previous_response_id": 7, "input": "x"}, "previous_response_id"),
        ({"previous_response_id": "", "input": "x"}, "previous_response_id"),
        ({"input": [{"type": "item_reference", "id": 3}]}, "input[0].id"),
        ({"input": [{"type": "item_reference"}]}, "input[0].id"),
    ],
)
def test_a_reference_that_is_no_id_is_a_400_naming_it(body, param):
    with pytest.raises(InvalidRequest) as caught:
        state.references(body)
    assert caught.value.param == param


def test_expand_puts_the_conversation_first_and_resolves_references():
    history = [
        {"type": "message", "id": "msg_u", "role": "developer", "content": "be brief"},
        {"type": "message", "id": "msg_q", "role": "user", "content": [
            {"type": "input_text", "text": "first"}]},
        REASONING,
        ANSWER,
    ]  # fmt: skip
    body = {
        "model": "sonnet",
        "instructions": "this request's own",
        "previous_response_id": "resp_a",
        "input": [{"type": "item_reference", "id": "msg_a_1"}, {"role": "user", "content": "hi"}],
    }
    expanded = state.expand(body, history, {"msg_a_1": ANSWER})
    assert "previous_response_id" not in expanded.body
    assert expanded.body["instructions"] == "this request's own"
    assert expanded.history_length == 4
    assert expanded.body["input"][:4] == history
    assert expanded.body["input"][4:] == expanded.own_input
    reference, message = expanded.own_input
    assert reference == ANSWER
    assert message["type"] == "message" and message["id"].startswith("msg_")
    assert message["content"] == [{"type": "input_text", "text": "hi"}]
    assert message["status"] == "completed"
    # The decoder reads it as a stateless body: the stored thinking returns with its signature.
    request = openai_responses.decode_request(expanded.body)
    assert request.system == "this request's own\n\nbe brief"
    roles = [m.role for m in request.messages]
    assert roles == ["user", "assistant", "user"]
    assert request.messages[1].content[0].signature == "sig"


def test_expand_mints_ids_for_the_items_sent_without_one():
    body = {
        "input": [
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "call_1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "20C"},
            {"type": "message", "id": "msg_client", "role": "assistant", "content": "ok"},
        ]
    }
    own = state.expand(body, [], {}).own_input
    assert [item["id"][: item["id"].index("_")] for item in own] == ["msg", "fc", "fco", "msg"]
    assert own[3]["id"] == "msg_client"  # the client's own id is kept
    assert own[3]["content"] == [{"type": "output_text", "text": "ok", "annotations": []}]
    assert len({item["id"] for item in own}) == 4
    # A string input is one user message.
    [only] = state.expand({"input": "hello"}, [], {}).own_input
    assert (only["role"], only["content"]) == ("user", [{"type": "input_text", "text": "hello"}])


def test_a_reference_not_found_is_a_404_and_a_bare_reasoning_item_is_left_to_the_decoder():
    with pytest.raises(NotFound) as caught:
        state.expand({"input": [{"type": "item_reference", "id": "rs_x"}]}, [], {})
    assert caught.value.param == "input" and "'rs_x' not found" in caught.value.message
    bare = {"type": "reasoning", "id": "rs_gone", "summary": []}
    expanded = state.expand({"input": [bare, {"role": "user", "content": "q"}]}, [], {})
    assert expanded.own_input[0] == {**bare, "status": "completed"}
    found = state.expand({"input": [bare]}, [], {"rs_gone": REASONING})
    assert found.own_input == [REASONING]


def test_the_decoder_refuses_state_it_was_not_given():
    """A Responses body posted to /v1/chat/completions reaches the decoder unexpanded."""
    with pytest.raises(InvalidRequest) as caught:
        openai_responses.decode_request(
            {"model": "m", "input": "x", "previous_response_id": "resp_1"}
        )
    assert caught.value.param == "previous_response_id"
    for reference in ({"type": "item_reference", "id": "msg_1"}, {"id": "msg_1"}):
        with pytest.raises(InvalidRequest) as caught:
            openai_responses.decode_request({"model": "m", "input": [reference]})
        assert "/v1/responses" in caught.value.message and caught.value.param == "input[0]"


def test_store_defaults_to_true_and_must_be_a_boolean():
    assert state.stores({}) and state.stores({"store": True}) and state.stores({"store": None})
    assert not state.stores({"store": False})
    with pytest.raises(InvalidRequest):
        state.stores({"store": "no"})
    assert state.echoed_fields({"store": False, "metadata": None}) == {
        "previous_response_id": None,
        "instructions": None,
        "metadata": {},
        "store": False,
    }
