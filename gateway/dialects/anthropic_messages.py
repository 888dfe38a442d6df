"""Anthropic Messages (``POST /v1/messages``): decode requests, encode responses and streams."""

from __future__ import annotations

from typing import Any

from .. import ir
from ..errors import GatewayError, InvalidRequest
from ..wire import fields as f
from ..wire.anthropic import block_from_ir, blocks_from_ir, message_to_ir, usage_from_ir
from ..wire.sse import sse_json

__all__ = ["NAME", "StreamEncoder", "decode_request", "encode_error", "encode_response"]

NAME = "anthropic.messages"

# Options this codec understands; anything else in a request body is an option of the
# Anthropic API without a neutral equivalent, kept in ``Request.extra``.
CARRIED = frozenset({
    "model", "messages", "system", "max_tokens", "temperature", "top_p", "top_k",
    "stop_sequences", "tools", "tool_choice", "stream", "metadata", "output_config",
    "output_format",
})  # fmt: skip
#: Accepted and without effect on the answer: ``service_tier`` picks a billing tier,
#: ``diagnostics`` asks for cache-miss explanations that only the API itself gives.
ACCEPTED = frozenset({"service_tier", "diagnostics"})
#: Options of the Anthropic API with no neutral form: kept in ``Request.extra`` for the sinks
#: that can carry them (an Anthropic upstream, the CLI for some); any other sink refuses them.
KEPT_AS_EXTRA = frozenset({
    "thinking", "speed", "inference_geo", "cache_control", "container", "context_management",
    "mcp_servers",
})  # fmt: skip


def decode_request(body: dict[str, Any], *, max_tokens_required: bool = True) -> ir.Request:
    """``max_tokens_required``: as the API has it; other routes' shapes may leave it out."""
    raw_messages = f.get(body, "messages", list, "", required=True)
    if not raw_messages:
        raise InvalidRequest("messages: must contain at least one message", param="messages")
    metadata = f.get(body, "metadata", dict, "", default={})
    extra = {k: v for k, v in body.items() if k not in CARRIED and k not in ACCEPTED}
    output_format, effort, rest = _output_config(f.get(body, "output_config", dict, "") or {})
    output_format = _beta_output_format(body, output_format)
    if rest:
        extra["output_config"] = rest
    messages = []
    for i in range(len(raw_messages)):
        raw = f.object_at(raw_messages, i, "messages")
        message = message_to_ir(raw, f"messages[{i}]")
        if message.role == "system":
            # A per-turn setting holds from its turn on; the answer is the turn after the last.
            turn_config = f.get(raw, "output_config", dict, f"messages[{i}]") or {}
            effort = _effort(turn_config, f"messages[{i}].output_config") or effort
            if not message.content:
                continue
        messages.append(message)
    if not any(m.role != "system" for m in messages):
        raise InvalidRequest("messages: at least one user message is required", param="messages")
    return ir.Request(
        model=f.get(body, "model", str, "", required=True),
        messages=messages,
        system=_system(body.get("system")),
        max_tokens=f.positive_int(body, "max_tokens", "", required=max_tokens_required),
        temperature=f.number_in(body, "temperature", "", 0.0, 1.0),
        top_p=f.number_in(body, "top_p", "", 0.0, 1.0),
        top_k=f.positive_int(body, "top_k", ""),
        stop=f.stop_list(body.get("stop_sequences"), "stop_sequences"),
        tools=[_tool(t, i) for i, t in enumerate(f.get(body, "tools", list, "", default=[]))],
        tool_choice=_tool_choice(f.get(body, "tool_choice", dict, "")),
        output_format=output_format,
        effort=effort,
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


def _effort(config: dict[str, Any], path: str) -> ir.Effort | None:
    effort = f.get(config, "effort", str, path)
    if effort is not None and effort not in ir.EFFORTS:
        raise InvalidRequest(
            f"{path}.effort: must be one of {', '.join(ir.EFFORTS)}, got '{effort}'",
            param=f"{path}.effort",
        )
    return effort  # type: ignore[return-value]


def _output_config(
    config: dict[str, Any],
) -> tuple[ir.OutputFormat | None, ir.Effort | None, dict[str, Any]]:
    """(structured output, effort, the keys without a neutral form)."""
    rest = {k: v for k, v in config.items() if k not in ("format", "effort")}
    raw_format = f.get(config, "format", dict, "output_config")
    output_format = None if raw_format is None else _format(raw_format, "output_config.format")
    return output_format, _effort(config, "output_config"), rest


def _beta_output_format(
    body: dict[str, Any], output_format: ir.OutputFormat | None
) -> ir.OutputFormat | None:
    """A top-level ``output_format``, the structured-outputs beta's spelling (header
    ``structured-outputs-2025-11-13``, as LiteLLM sends it), read as ``output_config.format``;
    the beta header needs no carrying: the native form takes none."""
    raw = f.get(body, "output_format", dict, "")
    if raw is None:
        return output_format
    if output_format is not None:
        raise InvalidRequest(
            "output_format: send the format once, as output_config.format or as the beta's "
            "output_format, not both",
            param="output_format",
        )
    return _format(raw, "output_format")


def _format(raw: dict[str, Any], path: str) -> ir.OutputFormat:
    if raw.get("type") != "json_schema":
        raise InvalidRequest(f"{path}.type: must be 'json_schema'", param=path)
    return ir.OutputFormat(f.get(raw, "schema", dict, path, required=True))


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
        strict=f.get(raw, "strict", bool, path, default=False),
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


def encode_response(response: ir.Response, request: ir.Request | None = None) -> dict[str, Any]:
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
        return stream_error(error)

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


def stream_error(error: GatewayError) -> bytes:
    """The in-band error event of a stream that has started."""
    return sse_json(encode_error(error)[1], "error")
