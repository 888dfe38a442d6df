"""Anthropic Messages (``POST /v1/messages``): decode requests, encode responses and streams.

The same block conversions serve both directions: a client speaking Anthropic to the gateway,
and the gateway speaking Anthropic to an upstream (``anthropic_upstream``).
"""

from __future__ import annotations

from typing import Any

from .. import ir
from ..errors import GatewayError, InvalidRequest
from . import _fields as f
from .sse import sse_json

__all__ = [
    "NAME",
    "StreamEncoder",
    "blocks_from_ir",
    "blocks_to_ir",
    "decode_request",
    "encode_error",
    "encode_response",
    "usage_from_ir",
    "usage_to_ir",
]

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


def blocks_to_ir(content: Any, path: str) -> list[ir.Content]:
    """Anthropic content (a string or a list of blocks) as neutral content."""
    if isinstance(content, str):
        return [ir.Text(content)]
    if not isinstance(content, list):
        raise InvalidRequest(f"{path}: expected a string or an array of content blocks", param=path)
    parts: list[ir.Content] = []
    for i in range(len(content)):
        part = _block(f.object_at(content, i, path), f"{path}[{i}]")
        if part is not None:
            parts.append(part)
    return parts


def _block(block: dict[str, Any], path: str) -> ir.Content | None:
    kind = block.get("type")
    if kind == "text":
        return ir.Text(f.get(block, "text", str, path, required=True))
    if kind == "image":
        return _image(f.get(block, "source", dict, path, required=True), f"{path}.source")
    if kind == "tool_use":
        return ir.ToolUse(
            id=f.get(block, "id", str, path, required=True),
            name=f.get(block, "name", str, path, required=True),
            input=f.get(block, "input", dict, path, default={}),
        )
    if kind == "tool_result":
        inner = block.get("content")
        content = [] if inner is None else blocks_to_ir(inner, f"{path}.content")
        for part in content:
            if not isinstance(part, ir.Text | ir.Image):
                raise InvalidRequest(
                    f"{path}.content: a tool result holds only text and images", param=path
                )
        return ir.ToolResult(
            tool_use_id=f.get(block, "tool_use_id", str, path, required=True),
            content=content,  # type: ignore[arg-type]
            is_error=f.get(block, "is_error", bool, path, default=False),
        )
    if kind == "thinking":
        return ir.Thinking(
            f.get(block, "thinking", str, path, default=""), f.get(block, "signature", str, path)
        )
    if kind == "redacted_thinking":
        # Encrypted reasoning from an earlier turn: only the API that produced it can read it,
        # and it does not take part in the answer to the new turn.
        return None
    raise InvalidRequest(
        f"{path}.type: content blocks of type '{kind}' are not supported by this gateway "
        "(supported: text, image, tool_use, tool_result, thinking)",
        param=f"{path}.type",
    )


def _image(source: dict[str, Any], path: str) -> ir.Image:
    kind = source.get("type")
    if kind == "base64":
        return ir.Image(
            media_type=f.get(source, "media_type", str, path, required=True),
            data=f.get(source, "data", str, path, required=True),
        )
    if kind == "url":
        return ir.Image(url=f.get(source, "url", str, path, required=True))
    raise InvalidRequest(
        f"{path}.type: image sources of type '{kind}' are not supported (use base64 or url)",
        param=path,
    )


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


def blocks_from_ir(content: list[ir.Content]) -> list[dict[str, Any]]:
    return [_block_from_ir(part) for part in content]


def _block_from_ir(part: ir.Content) -> dict[str, Any]:
    match part:
        case ir.Text(text=text):
            return {"type": "text", "text": text}
        case ir.Image(url=str(url)):
            return {"type": "image", "source": {"type": "url", "url": url}}
        case ir.Image(media_type=media_type, data=data):
            return {
                "type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": data},
            }
        case ir.ToolUse(id=id_, name=name, input=input_):
            return {"type": "tool_use", "id": id_, "name": name, "input": input_}
        case ir.ToolResult(tool_use_id=tool_use_id, content=content, is_error=is_error):
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": tool_use_id,
                "content": blocks_from_ir(content),  # type: ignore[arg-type]
            }
            if is_error:
                block["is_error"] = True
            return block
        case ir.Thinking(thinking=thinking, signature=signature):
            return {"type": "thinking", "thinking": thinking, "signature": signature or ""}
    raise TypeError(f"unknown content {part!r}")


def usage_from_ir(usage: ir.Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
    }


def usage_to_ir(raw: dict[str, Any] | None, base: ir.Usage | None = None) -> ir.Usage:
    """Usage from an Anthropic ``usage`` object; fields it lacks keep ``base``'s values."""
    usage = ir.Usage() if base is None else ir.Usage(**usage_from_ir(base))
    for key, value in (raw or {}).items():
        if key in _USAGE_FIELDS and isinstance(value, int):
            setattr(usage, key, value)
    return usage


_USAGE_FIELDS = set(ir.Usage.__slots__)  # type: ignore[attr-defined]


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
                    payload["content_block"] = _block_from_ir(block)
                return sse_json(payload, "content_block_start")
            case ir.TextDelta(index=index, text=text):
                return _delta(index, {"type": "text_delta", "text": text})
            case ir.ToolInputDelta(index=index, partial_json=fragment):
                return _delta(index, {"type": "input_json_delta", "partial_json": fragment})
            case ir.ThinkingDelta(index=index, thinking=thinking):
                return _delta(index, {"type": "thinking_delta", "thinking": thinking})
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
