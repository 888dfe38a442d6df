"""OpenAI Chat Completions (``POST /v1/chat/completions``) requests, decoded into the IR.

The answers (whole completions, chunk streams, errors) are encoded by openai_chat_out.py.
"""

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
from .anthropic_messages import NAME as ANTHROPIC_MESSAGES

__all__ = ["NAME", "decode_request", "include_usage"]

NAME = "openai.chat"

#: Fields decoded into the neutral form.
CARRIED = frozenset({
    "messages", "model", "max_completion_tokens", "max_tokens", "temperature", "top_p", "stop",
    "tools", "functions", "tool_choice", "function_call", "parallel_tool_calls", "stream",
    "stream_options", "user", "safety_identifier", "response_format", "reasoning_effort",
    "top_k", "thinking",
})  # fmt: skip
#: Read and without effect on the answer (docs/compatibility.md says why for each).
ACCEPTED = frozenset({
    "seed", "store", "metadata", "service_tier", "prompt_cache_key", "prompt_cache_retention",
    "prompt_cache_options", "verbosity",
})  # fmt: skip
#: A 400 naming the field when it asks for something Claude cannot do.
REFUSED = {
    "n": "only n=1 is supported; send separate requests instead",
    "logprobs": "Claude does not return log probabilities",
    "top_logprobs": "Claude does not return log probabilities",
    "logit_bias": "Claude has no logit bias",
    "frequency_penalty": "not supported by Claude; leave it unset or 0",
    "presence_penalty": "not supported by Claude; leave it unset or 0",
    "audio": "audio output is not supported by Claude",
    "modalities": "only ['text'] is supported",
    "prediction": "predicted outputs are not supported by Claude",
    "web_search_options": "web search is not offered through this endpoint (the Anthropic "
    "Messages endpoint of a route to the Anthropic API takes Claude's web search tool)",
    "moderation": "OpenAI moderation is not available for Claude; moderate the input yourself",
}
# What each refused field may hold without asking for anything (a client's defaults).
_HARMLESS: dict[str, tuple[Any, ...]] = {
    "n": (1,),
    "logprobs": (False,),
    "top_logprobs": (0,),
    "logit_bias": ({},),
    "frequency_penalty": (0, 0.0),
    "presence_penalty": (0, 0.0),
    "modalities": (["text"],),
}


def decode_request(body: dict[str, Any]) -> ir.Request:
    refuse_fields(body, REFUSED, _HARMLESS)
    messages = f.get(body, "messages", list, "", required=True)
    if not messages:
        raise InvalidRequest("messages: must contain at least one message", param="messages")
    system, turns = _messages(messages)
    max_tokens = f.positive_int(body, "max_completion_tokens", "")
    if max_tokens is None:
        max_tokens = f.positive_int(body, "max_tokens", "")
    tools = tools_to_ir(f.get(body, "tools", list, "", default=[]))
    tools += _legacy_functions(body)
    tool_choice = tool_choice_to_ir(body.get("tool_choice", body.get("function_call")))
    if body.get("parallel_tool_calls") is False and tools:
        tool_choice = tool_choice or ir.ToolChoice("auto")
        tool_choice.disable_parallel_tool_use = True
    stream = f.get(body, "stream", bool, "", default=False)
    # Claude's thinking, as LiteLLM-style clients send it in a Chat body: carried where the
    # sink can (an Anthropic upstream, the CLI), refused elsewhere, like an Anthropic body's.
    extra = {"thinking": body["thinking"]} if body.get("thinking") is not None else {}
    return ir.Request(
        model=f.get(body, "model", str, "", required=True),
        messages=turns,
        system=system,
        max_tokens=max_tokens,
        temperature=f.number_in(body, "temperature", "", 0.0, 1.0),
        top_p=f.number_in(body, "top_p", "", 0.0, 1.0),
        top_k=f.positive_int(body, "top_k", ""),
        stop=f.stop_list(body.get("stop"), "stop"),
        tools=tools,
        tool_choice=tool_choice,
        output_format=output_format_to_ir(
            f.get(body, "response_format", dict, ""), nested=True, param="response_format"
        ),
        effort=effort_to_ir(body, "reasoning_effort", ""),
        stream=stream,
        stream_usage=include_usage(body),
        user=f.get(body, "user", str, "") or f.get(body, "safety_identifier", str, ""),
        extra=extra,
        extra_dialect=ANTHROPIC_MESSAGES if extra else None,
    )


def include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _messages(raw: list[Any]) -> tuple[str | None, list[ir.Message]]:
    system: list[str] = []
    turns: list[ir.Message] = []
    for i in range(len(raw)):
        message = f.object_at(raw, i, "messages")
        path = f"messages[{i}]"
        role = f.get(message, "role", str, path, required=True)
        if role in ("system", "developer"):
            text = _text_only(message.get("content"), f"{path}.content")
            if turns and text:  # an instruction given at this point of the conversation
                append_turn(turns, "system", [ir.Text(text)])
            elif not turns:
                system.append(text)
        elif role == "user":
            append_turn(turns, "user", content_to_ir(message.get("content"), f"{path}.content"))
        elif role == "assistant":
            append_turn(turns, "assistant", _assistant(message, path))
        elif role == "tool":
            result = ir.ToolResult(
                tool_use_id=f.get(message, "tool_call_id", str, path, required=True),
                content=_tool_output(message.get("content"), f"{path}.content"),
            )
            append_turn(turns, "user", [result])
        else:
            raise InvalidRequest(
                f"{path}.role: '{role}' is not supported "
                "(use system, developer, user, assistant or tool)",
                param=f"{path}.role",
            )
    if not any(turn.role != "system" for turn in turns):
        raise InvalidRequest("messages: at least one user message is required", param="messages")
    return ("\n\n".join(s for s in system if s) or None), turns


def _text_only(content: Any, path: str) -> str:
    parts = content_to_ir(content, path)
    if any(not isinstance(p, ir.Text) for p in parts):
        raise InvalidRequest(f"{path}: system messages may only contain text", param=path)
    return "".join(p.text for p in parts)  # type: ignore[union-attr]


def _tool_output(content: Any, path: str) -> list[ir.Text | ir.Image | ir.Document]:
    return content_to_ir(content, path)  # type: ignore[return-value]


def _assistant(message: dict[str, Any], path: str) -> list[ir.Content]:
    content = message.get("content")
    parts: list[ir.Content] = [] if content is None else content_to_ir(content, f"{path}.content")
    parts = [p for p in parts if not (isinstance(p, ir.Text) and not p.text)]
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(ir.Text(refusal))
    for j, call in enumerate(f.get(message, "tool_calls", list, path, default=[])):
        parts.append(_tool_call(call, f"{path}.tool_calls[{j}]"))
    legacy = f.get(message, "function_call", dict, path)
    if legacy is not None:
        parts.append(_tool_call({"id": "call_legacy", "function": legacy}, f"{path}.function_call"))
    return parts


def _tool_call(call: Any, path: str) -> ir.ToolUse:
    if not isinstance(call, dict):
        raise InvalidRequest(f"{path}: expected an object", param=path)
    if call.get("type") == "custom":
        custom = f.get(call, "custom", dict, path, required=True)
        return ir.ToolUse(
            id=f.get(call, "id", str, path, required=True),
            name=f.get(custom, "name", str, f"{path}.custom", required=True),
            input={"input": f.get(custom, "input", str, f"{path}.custom", default="")},
        )
    function = f.get(call, "function", dict, path, required=True)
    arguments = f.get(function, "arguments", str, f"{path}.function", default="{}")
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        raise InvalidRequest(
            f"{path}.function.arguments: not valid JSON", param=f"{path}.function.arguments"
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(
            f"{path}.function.arguments: must encode a JSON object",
            param=f"{path}.function.arguments",
        )
    return ir.ToolUse(
        id=f.get(call, "id", str, path, required=True),
        name=f.get(function, "name", str, f"{path}.function", required=True),
        input=parsed,
    )


def _legacy_functions(body: dict[str, Any]) -> list[ir.Tool]:
    functions = f.get(body, "functions", list, "", default=[])
    return tools_to_ir([{"type": "function", "function": fn} for fn in functions])
