"""OpenAI Chat Completions (``POST /v1/chat/completions``): requests in, answers out."""

from __future__ import annotations

import json
import time
from typing import Any

from .. import ir
from ..errors import GatewayError, InvalidRequest
from ..wire import fields as f
from ..wire.json_codec import dumps
from ..wire.openai import (
    content_to_ir,
    effort_to_ir,
    output_format_to_ir,
    refuse_fields,
    tool_choice_to_ir,
    tools_to_ir,
)
from ..wire.sse import sse, sse_json
from ..wire.tool_input import FreeformInput
from ..wire.turns import append_turn

__all__ = [
    "FINISH_REASONS",
    "NAME",
    "StreamEncoder",
    "decode_request",
    "encode_error",
    "encode_response",
    "include_usage",
    "usage_from_ir",
]

NAME = "openai.chat"

FINISH_REASONS: dict[str | None, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    None: "stop",
}

#: Fields decoded into the neutral form.
CARRIED = frozenset({
    "messages", "model", "max_completion_tokens", "max_tokens", "temperature", "top_p", "stop",
    "tools", "functions", "tool_choice", "function_call", "parallel_tool_calls", "stream",
    "stream_options", "user", "safety_identifier", "response_format", "reasoning_effort",
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
    return ir.Request(
        model=f.get(body, "model", str, "", required=True),
        messages=turns,
        system=system,
        max_tokens=max_tokens,
        temperature=f.number_in(body, "temperature", "", 0.0, 1.0),
        top_p=f.number_in(body, "top_p", "", 0.0, 1.0),
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


# --- encoding --------------------------------------------------------------------------------


def usage_from_ir(usage: ir.Usage) -> dict[str, Any]:
    prompt = usage.prompt_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
        },
    }


def _message_from_ir(
    content: list[ir.Content], request: ir.Request | None, *, refused: bool
) -> dict[str, Any]:
    texts = [p.text for p in content if isinstance(p, ir.Text)]
    calls = [_call_from_ir(p, request) for p in content if isinstance(p, ir.ToolUse)]
    thinking = [p.thinking for p in content if isinstance(p, ir.Thinking)]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if refused:  # where OpenAI clients (and .parse()) look for a refusal
        message["refusal"], message["content"] = message["content"] or "", None
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    return message


def _call_from_ir(part: ir.ToolUse, request: ir.Request | None) -> dict[str, Any]:
    """A tool call in the shape its tool was declared in (function or custom)."""
    tool = request.tool(part.name) if request is not None else None
    if tool is not None and tool.freeform:
        custom = {"name": tool.client_name, "input": str(part.input.get("input", ""))}
        return {"id": part.id, "type": "custom", "custom": custom}
    name = tool.client_name if tool is not None else part.name
    arguments = json.dumps(part.input, ensure_ascii=False)
    return {"id": part.id, "type": "function", "function": {"name": name, "arguments": arguments}}


def encode_response(response: ir.Response, request: ir.Request | None = None) -> dict[str, Any]:
    refused = response.stop_reason == "refusal"
    return {
        "id": _completion_id(response.id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": _message_from_ir(response.content, request, refused=refused),
                "logprobs": None,
                # OpenAI ends a refusal with "stop"; a stream, whose text is already out, says
                # content_filter instead.
                "finish_reason": "stop"
                if refused
                else FINISH_REASONS.get(response.stop_reason, "stop"),
            }
        ],
        "usage": usage_from_ir(response.usage),
        "system_fingerprint": None,
    }


def _completion_id(message_id: str) -> str:
    return "chatcmpl-" + (message_id.removeprefix("msg_") or "gateway")


class StreamEncoder:
    """IR events as ``chat.completion.chunk`` SSE; one id and ``created`` for every chunk."""

    def __init__(self, request: ir.Request) -> None:
        self._request = request
        self._model = request.model
        self._include_usage = request.stream_usage
        self._id = "chatcmpl-gateway"
        self._created = int(time.time())
        self._tool_index: dict[int, int] = {}
        self._freeform: dict[int, FreeformInput] = {}  # block index -> custom tool call input
        self._finish: str | None = None
        self._usage = ir.Usage()
        # Every chunk is the same object but for its delta and finish_reason: its bytes
        # before and after them are made once per stream (a whole chunk through json.dumps
        # was most of the cost of a translated stream; see wire/json_codec.py).
        self._tail = b"}]" + (b',"usage":null' if self._include_usage else b"") + b"}\n\n"
        self._open_tail = b',"logprobs":null,"finish_reason":null' + self._tail
        self._head = self._make_head()

    def _make_head(self) -> bytes:
        return (
            b'data: {"id":' + dumps(self._id) + b',"object":"chat.completion.chunk","created":'
            + str(self._created).encode() + b',"model":' + dumps(self._model)
            + b',"system_fingerprint":null,"choices":[{"index":0,"delta":'
        )  # fmt: skip

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        """``data: {chat.completion.chunk}``, the same bytes as ``sse_json`` of the object."""
        if finish_reason is None:
            return self._head + dumps(delta) + self._open_tail
        finish = b',"logprobs":null,"finish_reason":' + dumps(finish_reason)
        return self._head + dumps(delta) + finish + self._tail

    def encode(self, event: ir.Event) -> bytes:
        match event:
            case ir.MessageStart(id=id_, model=model):
                self._id = _completion_id(id_)
                self._model = model or self._model
                self._head = self._make_head()
                return self._chunk({"role": "assistant", "content": "", "refusal": None})
            case ir.TextDelta(text=text):
                if not text:
                    return b""
                return self._head + b'{"content":' + dumps(text) + b"}" + self._open_tail
            case ir.ThinkingDelta(thinking=thinking):
                # Where DeepSeek, vLLM and Open WebUI look for reasoning in a chat stream.
                return self._chunk({"reasoning_content": thinking}) if thinking else b""
            case ir.BlockStart(index=index, block=ir.ToolUse() as block):
                self._tool_index[index] = len(self._tool_index)
                call = {"index": self._tool_index[index]} | _call_from_ir(block, self._request)
                if call["type"] == "custom":
                    self._freeform[index] = FreeformInput()
                else:
                    call["function"]["arguments"] = ""
                return self._chunk({"tool_calls": [call]})
            case ir.ToolInputDelta(index=index, partial_json=fragment):
                if index in self._freeform:
                    text = self._freeform[index].feed(fragment)
                    call = {"index": self._tool_index[index], "custom": {"input": text}}
                    return self._chunk({"tool_calls": [call]}) if text else b""
                call = {"index": self._tool_index[index], "function": {"arguments": fragment}}
                return self._chunk({"tool_calls": [call]})
            case ir.MessageDelta(stop_reason=reason, usage=usage):
                self._usage = usage
                return self._chunk({}, FINISH_REASONS.get(reason, "stop"))
        return b""

    def end(self) -> bytes:
        """What follows the last event: the usage chunk when asked for, then ``[DONE]``."""
        tail = b""
        if self._include_usage:
            chunk = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "system_fingerprint": None,
                "choices": [],
                "usage": usage_from_ir(self._usage),
            }
            tail = sse_json(chunk)
        return tail + sse("[DONE]")

    def error(self, error: GatewayError) -> bytes:
        return stream_error(error)


def stream_error(error: GatewayError) -> bytes:
    """The in-band error chunk of a stream that has started."""
    return sse_json(encode_error(error)[1])


_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "request_timeout": "invalid_request_error",
    "rate_limit_error": "rate_limit_error",
    "overloaded_error": "rate_limit_error",
    "timeout_error": "server_error",
    "api_error": "server_error",
}


def encode_error(error: GatewayError) -> tuple[int, dict[str, Any]]:
    status = 429 if error.status == 529 else error.status
    return status, {
        "error": {
            "message": error.message,
            "type": _TYPES.get(error.kind, "server_error"),
            "param": error.param,
            "code": error.code,
        }
    }
