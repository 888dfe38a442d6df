"""Anthropic Messages (``POST /v1/messages``): decode requests, encode responses and streams."""

from __future__ import annotations

from typing import Any

from .. import ir
from ..errors import GatewayError, InvalidRequest
from ..wire import fields as f
from ..wire.anthropic import block_from_ir, blocks_from_ir, blocks_to_ir, usage_from_ir
from .sse import sse_json

__all__ = ["NAME", "StreamEncoder", "decode_request", "encode_error", "encode_response"]

NAME = "anthropic.messages"

# Options this codec understands; anything else in a request body is an option of the
# Anthropic API without a neutral equivalent, kept in ``Request.extra``.
_KNOWN = {
    "model", "messages", "system", "max_tokens", "temperature", "top_p", "top_k",
    "stop_sequences", "tools", "tool_choice", "stream", "metadata",
}  # fmt: skip
# Accepted and without effect on the answer: ``service_tier`` picks a billing tier.
_IGNORED = {"service_tier"}


def decode_request(body: dict[str, Any]) -> ir.Request:
    messages = f.get(body, "messages", list, "", required=True)
    metadata = f.get(body, "metadata", dict, "", default={})
    extra = {k: v for k, v in body.items() if k not in _KNOWN and k not in _IGNORED}
    return ir.Request(
        model=f.get(body, "model", str, "", required=True),
        messages=[_message(f.object_at(messages, i, "messages"), i) for i in range(len(messages))],
        system=_system(body.get("system")),
        max_tokens=f.positive_int(body, "max_tokens", "", required=True),
        temperature=f.number_in(body, "temperature", "", 0.0, 1.0),
        top_p=f.number_in(body, "top_p", "", 0.0, 1.0),
        top_k=f.positive_int(body, "top_k", ""),
        stop=f.stop_list(body.get("stop_sequences"), "stop_sequences"),
        tools=[_tool(t, i) for i, t in enumerate(f.get(body, "tools", list, "", default=[]))],
        tool_choice=_tool_choice(f.get(body, "tool_choice", dict, "")),
        stream=f.get(body, "stream", bool, "", default=False),
        user=f.get(metadata, "user_id", str, "metadata"),
        extra=extra,
        extra_dialect=NAME if extra else None,
    )


def _system(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, list):
        texts = []
        for i, block in enumerate(value):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise InvalidRequest(f"system[{i}]: only text blocks are allowed", param="system")
            texts.append(f.get(block, "text", str, f"system[{i}]", required=True))
        return "\n\n".join(texts) or None
    raise InvalidRequest("system: expected a string or an array of text blocks", param="system")


def _message(raw: dict[str, Any], index: int) -> ir.Message:
    path = f"messages[{index}]"
    role = f.get(raw, "role", str, path, required=True)
    if role not in ("user", "assistant"):
        raise InvalidRequest(
            f"{path}.role: must be 'user' or 'assistant', got '{role}' "
            "(put system prompts in the top-level 'system' field)",
            param=f"{path}.role",
        )
    return ir.Message(role, blocks_to_ir(raw.get("content"), f"{path}.content"))


def _tool(raw: Any, index: int) -> ir.Tool:
    path = f"tools[{index}]"
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{path}: expected an object", param=path)
    kind = raw.get("type")
    if kind not in (None, "custom"):
        raise InvalidRequest(
            f"{path}.type: server tools ('{kind}') are not supported; declare client tools "
            "with name, description and input_schema",
            param=path,
        )
    return ir.Tool(
        name=f.get(raw, "name", str, path, required=True),
        input_schema=f.get(raw, "input_schema", dict, path, required=True),
        description=f.get(raw, "description", str, path),
    )


def _tool_choice(raw: dict[str, Any] | None) -> ir.ToolChoice | None:
    if raw is None:
        return None
    kind = raw.get("type")
    if kind not in ("auto", "any", "tool", "none"):
        raise InvalidRequest(
            "tool_choice.type: must be one of auto, any, tool, none", param="tool_choice"
        )
    name = f.get(raw, "name", str, "tool_choice", required=kind == "tool")
    return ir.ToolChoice(
        kind, name, f.get(raw, "disable_parallel_tool_use", bool, "tool_choice", default=False)
    )


# --- encoding --------------------------------------------------------------------------------


def encode_response(response: ir.Response) -> dict[str, Any]:
    return {
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": blocks_from_ir(response.content),
        "stop_reason": response.stop_reason,
        "stop_sequence": response.stop_sequence,
        "usage": usage_from_ir(response.usage),
    }


class StreamEncoder:
    """IR events as Anthropic SSE, one event at a time."""

    def __init__(self, request: ir.Request) -> None:
        self._model = request.model

    def encode(self, event: ir.Event) -> bytes:
        match event:
            case ir.MessageStart(id=id_, model=model, usage=usage):
                message = {
                    "id": id_,
                    "type": "message",
                    "role": "assistant",
                    "model": model or self._model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage_from_ir(usage),
                }
                return sse_json({"type": "message_start", "message": message}, "message_start")
            case ir.BlockStart(index=index, block=block):
                payload = {"type": "content_block_start", "index": index}
                if isinstance(block, ir.ToolUse):
                    payload["content_block"] = {
                        "type": "tool_use", "id": block.id, "name": block.name, "input": {}
                    }  # fmt: skip
                else:
                    payload["content_block"] = block_from_ir(block)
                return sse_json(payload, "content_block_start")
            case ir.TextDelta(index=index, text=text):
                return _delta(index, {"type": "text_delta", "text": text})
            case ir.ToolInputDelta(index=index, partial_json=fragment):
                return _delta(index, {"type": "input_json_delta", "partial_json": fragment})
            case ir.ThinkingDelta(index=index, thinking=thinking):
                return _delta(index, {"type": "thinking_delta", "thinking": thinking})
            case ir.SignatureDelta(index=index, signature=signature):
                return _delta(index, {"type": "signature_delta", "signature": signature})
            case ir.BlockStop(index=index):
                return sse_json(
                    {"type": "content_block_stop", "index": index}, "content_block_stop"
                )
            case ir.MessageDelta(stop_reason=reason, stop_sequence=sequence, usage=usage):
                payload = {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": sequence},
                    "usage": usage_from_ir(usage),
                }
                return sse_json(payload, "message_delta")
            case ir.MessageStop():
                return sse_json({"type": "message_stop"}, "message_stop")
        raise TypeError(f"unknown event {event!r}")

    def error(self, error: GatewayError) -> bytes:
        return sse_json(encode_error(error)[1], "error")

    def end(self) -> bytes:
        return b""


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return sse_json(
        {"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"
    )


def encode_error(error: GatewayError) -> tuple[int, dict[str, Any]]:
    return error.status, {
        "type": "error",
        "error": {"type": error.kind, "message": error.message},
    }
