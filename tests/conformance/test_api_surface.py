"""What clients of late 2026 send by default, on every sink: structured outputs, effort,
documents, system turns and reasoning, and the defaults the gateway itself adds."""

from __future__ import annotations

import base64

import pydantic
from media import tiny_pdf, tiny_png
from mock_upstream import Reply
from openai.lib._pydantic import to_strict_json_schema
from upstream_view import turns


class Person(pydantic.BaseModel):
    name: str
    age: int


PERSON_SCHEMA = to_strict_json_schema(Person)
ADA = '{"name": "Ada", "age": 36}'


def bodies(mock) -> list[dict]:
    return [r.body for r in mock.messages_requests()]


def test_structured_outputs_parse_into_objects(kind, clients, mock):
    oai, claude = clients
    mock.when("extract", Reply(text=ADA, chunks=4))
    parsed = oai.chat.completions.parse(
        model="gpt-4o",
        messages=[{"role": "user", "content": "extract Ada"}],
        response_format=Person,
    )
    assert parsed.choices[0].message.parsed == Person(name="Ada", age=36)
    with oai.chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": "extract Ada"}],
        response_format=Person,
    ) as stream:
        streamed = stream.get_final_completion()
    assert streamed.choices[0].message.parsed == Person(name="Ada", age=36)
    response = oai.responses.parse(model="gpt-4o", input="extract Ada", text_format=Person)
    assert response.output_parsed == Person(name="Ada", age=36)
    schema = {"type": "object", "properties": {"x": {"type": "string"}}}
    message = claude.messages.create(
        model="opus",
        max_tokens=50,
        messages=[{"role": "user", "content": "extract Ada"}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert message.content[0].text == ADA
    # A schema that leaves objects open (OpenAI's non-strict mode) is closed: Claude needs it.
    oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "extract Ada"}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    )
    # The structured-outputs beta's spelling, as LiteLLM sends it.
    beta = claude.messages.create(
        model="opus",
        max_tokens=50,
        messages=[{"role": "user", "content": "extract Ada"}],
        extra_body={"output_format": {"type": "json_schema", "schema": schema}},
        extra_headers={"anthropic-beta": "structured-outputs-2025-11-13"},
    )
    assert beta.content[0].text == ADA
    *sent, sent_beta = bodies(mock)
    formats = [body["output_config"]["format"] for body in sent]
    closed = {**schema, "additionalProperties": False}
    assert formats == [{"type": "json_schema", "schema": PERSON_SCHEMA}] * 3 + [
        {"type": "json_schema", "schema": schema},
        {"type": "json_schema", "schema": closed},
    ]
    if kind == "http":  # passed through to the API, beta header and all
        assert sent_beta["output_format"] == {"type": "json_schema", "schema": schema}
        headers = mock.messages_requests()[-1].headers
        assert "structured-outputs-2025-11-13" in headers.get("anthropic-beta", "")
    else:  # in the native form, which needs no beta
        assert "output_format" not in sent_beta
        assert sent_beta["output_config"]["format"] == {"type": "json_schema", "schema": schema}


def test_a_refusal_reaches_openai_clients_as_a_refusal(clients, mock):
    oai, _ = clients
    mock.when("forbidden", Reply(text="I can't help with that.", stop_reason="refusal"))
    parsed = oai.chat.completions.parse(
        model="gpt-4o", messages=[{"role": "user", "content": "forbidden"}], response_format=Person
    )
    message = parsed.choices[0].message
    assert (message.refusal, message.content, message.parsed) == (
        "I can't help with that.",
        None,
        None,
    )
    response = oai.responses.create(model="gpt-4o", input="forbidden")
    assert response.output[0].content[0].type == "refusal"
    assert response.output[0].content[0].refusal == "I can't help with that."


def test_effort_maps_to_output_config(clients, mock):
    oai, claude = clients
    oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}], reasoning_effort="high"
    )
    oai.responses.create(model="gpt-4o", input="x", reasoning={"effort": "minimal"})
    claude.messages.create(
        model="opus",
        max_tokens=5,
        messages=[{"role": "user", "content": "x"}],
        output_config={"effort": "max"},
    )
    assert [body["output_config"]["effort"] for body in bodies(mock)] == ["high", "low", "max"]


def test_thinking_reaches_openai_clients_as_reasoning(kind, clients, mock):
    oai, _ = clients
    mock.when("ponder", Reply(thinking="step by step", text="42"))
    answer = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "ponder"}]
    )
    assert answer.choices[0].message.model_extra["reasoning_content"] == "step by step"
    response = oai.responses.create(
        model="gpt-4o", input="ponder", reasoning={"effort": "high", "summary": "auto"}
    )
    reasoning, message = response.output
    assert message.type == "message"
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "step by step"
    assert reasoning.encrypted_content == "claude-thinking:sig" and response.output_text == "42"
    # Asking for a summary turns thinking on: Claude thinks only when asked.
    assert bodies(mock)[-1]["thinking"]["type"] == "adaptive"
    events = list(oai.responses.create(model="gpt-4o", input="ponder", stream=True))
    deltas = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
    assert "".join(deltas) == "step by step"
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert [item.type for item in done] == ["reasoning", "message"]
    assert (
        done[0].summary[0].text == "step by step"
        and done[0].encrypted_content == "claude-thinking:sig"
    )
    assert events[-1].response.output_text == "42"
    if kind == "http":  # the CLI keeps earlier thinking only for its own model ids
        foreign = {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-openai"}
        oai.responses.create(
            model="gpt-4o",
            input=[
                {"role": "user", "content": "ponder"},
                foreign,  # another provider's reasoning is left out
                reasoning.model_dump(exclude_none=True),
                {"role": "assistant", "content": "42"},
                {"role": "user", "content": "and then?"},
            ],
        )
        assert bodies(mock)[-1]["messages"][1]["content"][0] == {
            "type": "thinking",
            "thinking": "step by step",
            "signature": "sig",
        }


def test_documents_arrive_as_document_blocks(clients, mock):
    oai, claude = clients
    pdf = base64.b64encode(tiny_pdf()).decode()
    png = base64.b64encode(tiny_png()).decode()
    oai.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "summarize"},
                    {
                        "type": "file",
                        "file": {
                            "file_data": f"data:application/pdf;base64,{pdf}",
                            "filename": "a.pdf",
                        },
                    },
                ],
            }
        ],
    )
    note = base64.b64encode("notes: ünïcode".encode()).decode()
    oai.responses.create(
        model="gpt-4o",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "read"},
                    {
                        "type": "input_file",
                        "file_data": f"data:text/plain;base64,{note}",
                        "filename": "n.txt",
                    },
                ],
            }
        ],
    )
    text_doc = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "tool output"},
        "title": "log",
    }
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}
    claude.messages.create(
        model="opus",
        max_tokens=5,
        tools=[{"name": "fetch", "input_schema": {"type": "object"}}],
        messages=[
            {"role": "user", "content": "fetch it"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "fetch", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [image, text_doc]}
                ],
            },
        ],
    )
    chat, responses, messages = (turns(body) for body in bodies(mock))
    assert chat[0]["content"][1] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
        "title": "a.pdf",
    }
    assert responses[0]["content"][1] == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "notes: ünïcode"},
        "title": "n.txt",
    }
    result = messages[-1]["content"][0]
    assert result["tool_use_id"] == "t1" and result["content"] == [image, text_doc]


def text_turns(*pairs: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": [{"type": "text", "text": text}]} for role, text in pairs]


def test_system_turns_arrive_in_place(kind, clients, mock):
    oai, claude = clients
    # Claude Code's shape: its environment note follows the first user turn.
    claude.messages.create(
        model="opus",
        max_tokens=5,
        system="TOP",
        messages=[
            {"role": "user", "content": "Q1"},
            {"role": "system", "content": "NOTE-1"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"},
            {"role": "system", "content": [{"type": "text", "text": "NOTE-2"}]},
        ],
    )
    oai.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "TOP"},
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"},
            {"role": "developer", "content": "NOTE-3"},
            {"role": "user", "content": "Q2"},
        ],
    )
    first, second = bodies(mock)
    assert turns(first, system=True) == text_turns(
        ("user", "Q1"),
        ("system", "NOTE-1"),
        ("assistant", "A1"),
        ("user", "Q2"),
        ("system", "NOTE-2"),
    )
    if kind == "http":
        assert turns(second, system=True) == text_turns(
            ("user", "Q1"), ("assistant", "A1"), ("system", "NOTE-3"), ("user", "Q2")
        )
    else:  # Claude Code places a system turn only after a user turn: the note is folded
        assert turns(second, system=True) == [
            *text_turns(("user", "Q1"), ("assistant", "A1")),
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>\nNOTE-3\n</system-reminder>\n"},
                    {"type": "text", "text": "Q2"},
                ],
            },
        ]


def test_nothing_is_added_that_the_client_did_not_ask_for(clients, mock):
    oai, claude = clients
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    claude.messages.create(model="opus", max_tokens=7, messages=[{"role": "user", "content": "x"}])
    defaulted, given = bodies(mock)
    assert (defaulted["max_tokens"], given["max_tokens"]) == (32000, 7)
    for body in (defaulted, given):
        assert "effort" not in body.get("output_config", {})
        assert body.get("thinking", {"type": "disabled"}) == {"type": "disabled"}
