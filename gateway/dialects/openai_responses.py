"""OpenAI Responses (``POST /v1/responses``): a body whose references to stored responses were
already expanded (openai_responses_state), decoded as one that carries its whole input.

This module decodes requests; openai_responses_out encodes answers and streams."""

from __future__ import annotations

import json
from typing import Any

from .. import ir
from ..errors import InvalidRequest
from ..wire import fields as f
from ..wire.openai import (
    content_to_ir,
    effort_to_ir,
    output_format_to_ir,
    refuse_fields,
    tool_choice_to_ir,
    tools_to_ir,
)
from ..wire.turns import append_turn
from .openai_responses_out import SIGNATURE_PREFIX, StreamEncoder, encode_response

__all__ = ["NAME", "SIGNATURE_PREFIX", "StreamEncoder", "decode_request", "encode_response"]

NAME = "openai.responses"

#: Fields decoded into the neutral form.
CARRIED = frozenset({
    "input", "instructions", "model", "max_output_tokens", "temperature", "top_p", "tools",
    "tool_choice", "parallel_tool_calls", "stream", "user", "safety_identifier", "text",
    "reasoning",
})  # fmt: skip
#: Read and without effect on the answer (docs/compatibility.md says why for each).
ACCEPTED = frozenset({
    "metadata", "store", "service_tier", "prompt_cache_key", "prompt_cache_retention",
    "prompt_cache_options", "include", "truncation", "max_tool_calls", "stream_options",
    "context_management", "access_programs", "image", "background_options",
})  # fmt: skip
#: Read before decoding, from the response store (openai_responses_state): a body that still
#: has them was posted elsewhere (a Responses body on /v1/chat/completions) and is refused.
STATEFUL = frozenset({"previous_response_id"})
_ONLY_RESPONSES = (
    "only the Responses endpoint (/v1/responses) reads stored responses: post there, or send "
    "the whole conversation in 'input'"
)
#: A 400 naming the field when it asks for something this gateway cannot do.
REFUSED = {
    "conversation": "conversations are not kept: continue with 'previous_response_id' at "
    "/v1/responses, or send the whole conversation in 'input'",
    "background": "background responses are not supported",
    "prompt": "stored prompts are not supported",
    "top_logprobs": "Claude does not return log probabilities",
    "moderation": "OpenAI moderation is not available for Claude; moderate the input yourself",
}
_HARMLESS: dict[str, tuple[Any, ...]] = {
    "background": (False,),
    "top_logprobs": (0,),
    "prompt": ({},),
    "conversation": ({},),
    "moderation": ({},),
}
_REASONING_SUMMARIES = ("auto", "concise", "detailed")


def decode_request(body: dict[str, Any]) -> ir.Request:
    if body.get("previous_response_id") is not None:
        raise InvalidRequest(
            f"previous_response_id: {_ONLY_RESPONSES}", param="previous_response_id"
        )
    refuse_fields(body, REFUSED, _HARMLESS)
    _refuse_logprobs(f.get(body, "include", list, "", default=[]))
    text = f.get(body, "text", dict, "") or {}
    reasoning = f.get(body, "reasoning", dict, "") or {}
    system = [f.get(body, "instructions", str, "") or ""]
    raw = body.get("input")
    if isinstance(raw, str):
        turns = [ir.Message("user", [ir.Text(raw)])]
    elif isinstance(raw, list):
        turns = _items(raw, system)
    else:
        raise InvalidRequest("input: expected a string or an array of input items", param="input")
    if not any(turn.role != "system" for turn in turns):
        raise InvalidRequest("input: at least one user message is required", param="input")
    hosted: list[str] = []
    tools = tools_to_ir(f.get(body, "tools", list, "", default=[]), hosted=hosted)
    tool_choice = tool_choice_to_ir(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False and tools:
        tool_choice = tool_choice or ir.ToolChoice("auto")
        tool_choice.disable_parallel_tool_use = True
    return ir.Request(
        model=f.get(body, "model", str, "", required=True),
        messages=turns,
        system="\n\n".join(s for s in system if s) or None,
        max_tokens=f.positive_int(body, "max_output_tokens", ""),
        temperature=f.number_in(body, "temperature", "", 0.0, 1.0),
        top_p=f.number_in(body, "top_p", "", 0.0, 1.0),
        tools=tools,
        tool_choice=tool_choice,
        hosted_tools=hosted,
        output_format=output_format_to_ir(
            f.get(text, "format", dict, "text"), nested=False, param="text.format"
        ),
        effort=effort_to_ir(reasoning, "effort", "reasoning"),
        show_reasoning=_summary(reasoning) in _REASONING_SUMMARIES,
        stream=f.get(body, "stream", bool, "", default=False),
        user=f.get(body, "user", str, "") or f.get(body, "safety_identifier", str, ""),
    )


def _summary(reasoning: dict[str, Any]) -> str | None:
    """``reasoning.summary``, or its deprecated name ``generate_summary``."""
    summary = f.get(reasoning, "summary", str, "reasoning")
    return summary or f.get(reasoning, "generate_summary", str, "reasoning")


def _call_to_ir(item: dict[str, Any], path: str) -> ir.ToolUse:
    """A ``function_call`` or ``custom_tool_call`` item; a namespaced name is joined again."""
    name = f.get(item, "name", str, path, required=True)
    namespace = f.get(item, "namespace", str, path)
    if namespace:
        name = f"{namespace}__{name}"
    call_id = f.get(item, "call_id", str, path, required=True)
    if item.get("type") == "custom_tool_call":
        return ir.ToolUse(call_id, name, {"input": f.get(item, "input", str, path, default="")})
    arguments = f.get(item, "arguments", str, path, default="{}")
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        raise InvalidRequest(f"{path}.arguments: not valid JSON", param=path) from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"{path}.arguments: must encode a JSON object", param=path)
    return ir.ToolUse(call_id, name, parsed)


def _refuse_logprobs(include: list[Any]) -> None:
    if "message.output_text.logprobs" in include:
        raise InvalidRequest(
            "include: 'message.output_text.logprobs' cannot be served: Claude does not return "
            "log probabilities",
            param="include",
        )


def _items(items: list[Any], system: list[str]) -> list[ir.Message]:
    turns: list[ir.Message] = []

    for i in range(len(items)):
        item = f.object_at(items, i, "input")
        path = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "item_reference" or (item.get("type") is None and set(item) == {"id"}):
            raise InvalidRequest(f"{path}: an item_reference: {_ONLY_RESPONSES}", param=path)
        if kind == "message":
            role = f.get(item, "role", str, path, required=True)
            content = content_to_ir(item.get("content"), f"{path}.content")
            if role in ("system", "developer"):
                if any(not isinstance(p, ir.Text) for p in content):
                    raise InvalidRequest(
                        f"{path}.content: system messages may only contain text", param=path
                    )
                text = "".join(p.text for p in content)  # type: ignore[union-attr]
                if turns and text:  # an instruction given at this point of the conversation
                    append_turn(turns, "system", [ir.Text(text)])
                elif not turns:
                    system.append(text)
            elif role in ("user", "assistant"):
                append_turn(turns, role, content)
            else:
                raise InvalidRequest(
                    f"{path}.role: '{role}' is not supported", param=f"{path}.role"
                )
        elif kind in ("function_call", "custom_tool_call"):
            append_turn(turns, "assistant", [_call_to_ir(item, path)])
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output")
            content = content_to_ir(output, f"{path}.output") if output is not None else []
            call_id = f.get(item, "call_id", str, path, required=True)
            append_turn(turns, "user", [ir.ToolResult(call_id, content)])  # type: ignore[arg-type]
        elif kind == "reasoning":
            # Thinking this gateway answered earlier comes back with its signature as
            # encrypted_content: it returns to Claude as the thinking block it was. Another
            # provider's reasoning (OpenAI's own blobs) cannot take part and is left out.
            sealed = f.get(item, "encrypted_content", str, path) or ""
            signature = sealed.removeprefix(SIGNATURE_PREFIX)
            if sealed.startswith(SIGNATURE_PREFIX) and signature:
                summary = f.get(item, "summary", list, path, default=[])
                text = "".join(
                    f.get(part, "text", str, f"{path}.summary[{i}]", default="")
                    for i, part in enumerate(summary)
                    if isinstance(part, dict)
                )
                append_turn(turns, "assistant", [ir.Thinking(text, signature)])
        else:
            raise InvalidRequest(
                f"{path}.type: input items of type '{kind}' are not supported", param=path
            )
    return turns
