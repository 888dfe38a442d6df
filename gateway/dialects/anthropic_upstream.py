"""The gateway as a client of an Anthropic Messages upstream: IR to JSON, and SSE back to IR."""

from __future__ import annotations

from typing import Any

from .. import ir
from ..errors import GatewayError, UpstreamError, error_for_upstream_status
from .anthropic_messages import NAME, blocks_from_ir, blocks_to_ir, usage_to_ir
from .sse import ServerSentEvent

__all__ = ["StreamDecoder", "decode_response", "encode_request", "error_for_stream_error"]


def encode_request(request: ir.Request, *, default_max_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [
            {"role": m.role, "content": blocks_from_ir(m.content)} for m in request.messages
        ],
        "max_tokens": request.max_tokens or default_max_tokens,
    }
    if request.system:
        body["system"] = request.system
    for key in ("temperature", "top_p", "top_k"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    if request.extra_dialect == NAME:
        body.update(request.extra)
    return body


def _tool(tool: ir.Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name, "input_schema": tool.input_schema}
    if tool.description:
        out["description"] = tool.description
    return out


def _tool_choice(choice: ir.ToolChoice) -> dict[str, Any]:
    out: dict[str, Any] = {"type": choice.type}
    if choice.name:
        out["name"] = choice.name
    if choice.disable_parallel_tool_use:
        out["disable_parallel_tool_use"] = True
    return out


def decode_response(body: dict[str, Any]) -> ir.Response:
    try:
        return ir.Response(
            id=body.get("id", ""),
            model=body.get("model", ""),
            content=blocks_to_ir(body.get("content", []), "content"),
            stop_reason=body.get("stop_reason"),
            stop_sequence=body.get("stop_sequence"),
            usage=usage_to_ir(body.get("usage")),
        )
    except GatewayError as exc:
        raise UpstreamError(f"The upstream sent a message the gateway cannot read: {exc}") from exc


class StreamDecoder:
    """Anthropic SSE events from an upstream as IR events."""

    def __init__(self) -> None:
        self._usage = ir.Usage()

    def decode(self, sse: ServerSentEvent) -> list[ir.Event]:
        if sse.event == "ping" or not sse.data:
            return []
        data = sse.json()
        kind = data.get("type")
        if kind == "content_block_delta":
            index, delta = data["index"], data["delta"]
            match delta.get("type"):
                case "text_delta":
                    return [ir.TextDelta(index, delta["text"])]
                case "input_json_delta":
                    return [ir.ToolInputDelta(index, delta["partial_json"])]
                case "thinking_delta":
                    return [ir.ThinkingDelta(index, delta["thinking"])]
            return []
        if kind == "message_start":
            message = data["message"]
            self._usage = usage_to_ir(message.get("usage"))
            return [ir.MessageStart(message.get("id", ""), message.get("model", ""), self._usage)]
        if kind == "content_block_start":
            return [ir.BlockStart(data["index"], _empty_block(data["content_block"]))]
        if kind == "content_block_stop":
            return [ir.BlockStop(data["index"])]
        if kind == "message_delta":
            delta = data.get("delta", {})
            self._usage = usage_to_ir(data.get("usage"), self._usage)
            return [
                ir.MessageDelta(delta.get("stop_reason"), delta.get("stop_sequence"), self._usage)
            ]
        if kind == "message_stop":
            return [ir.MessageStop()]
        if kind == "error":
            error = data.get("error", {})
            raise error_for_stream_error(
                error.get("type", ""), error.get("message", "unknown error")
            )
        return []


def _empty_block(block: dict[str, Any]) -> ir.Text | ir.ToolUse | ir.Thinking:
    kind = block.get("type")
    if kind == "tool_use":
        return ir.ToolUse(block["id"], block["name"])
    if kind == "thinking":
        return ir.Thinking("", block.get("signature"))
    return ir.Text(block.get("text", ""))


_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def error_for_stream_error(kind: str, message: str) -> GatewayError:
    return error_for_upstream_status(_STATUS_BY_TYPE.get(kind, 500), message)
