"""OpenAI Chat Completions answers: whole completions, ``chat.completion.chunk`` streams and
errors, from IR responses and events."""

from __future__ import annotations

import json
import time
from typing import Any

from .. import ir
from ..errors import GatewayError
from ..wire.json_codec import dumps
from ..wire.sse import sse, sse_json
from ..wire.tool_input import FreeformInput

__all__ = [
    "FINISH_REASONS",
    "StreamEncoder",
    "encode_error",
    "encode_response",
    "stream_error",
    "usage_from_ir",
]

FINISH_REASONS: dict[str | None, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    None: "stop",
}


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
