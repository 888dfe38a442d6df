"""The IR as plain JSON, the payload transforms read and write (gateway/schemas/ir.*.schema.json).

Content uses Anthropic's block shapes, which the IR mirrors: ``{"type": "text", "text": ...}``,
``{"type": "image", "source": ...}``, ``tool_use``, ``tool_result``.
"""

from __future__ import annotations

from typing import Any

from . import ir
from .errors import InvalidRequest
from .wire import fields as f
from .wire.anthropic import (
    blocks_from_ir,
    message_from_ir,
    message_to_ir,
    response_to_ir,
    tool_from_ir,
    usage_from_ir,
)

__all__ = ["request_from_json", "request_to_json", "response_to_json"]


def request_to_json(request: ir.Request) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": request.model,
        "messages": [message_from_ir(m) for m in request.messages],
        "stream": request.stream,
    }
    optional = {
        "system": request.system,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "top_k": request.top_k,
        "user": request.user,
        "effort": request.effort,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    if request.output_format is not None:
        out["output_format"] = {
            "schema": request.output_format.schema,
            "name": request.output_format.name,
        }
    if request.show_reasoning:
        out["show_reasoning"] = True
    if request.stream_usage:
        out["stream_usage"] = True
    if request.stop:
        out["stop"] = request.stop
    if request.tools:
        out["tools"] = [_tool_to_json(t) for t in request.tools]
    if request.hosted_tools:
        out["hosted_tools"] = request.hosted_tools
    if request.tool_choice is not None:
        choice = request.tool_choice
        out["tool_choice"] = {"type": choice.type, "name": choice.name}
        if choice.disable_parallel_tool_use:
            out["tool_choice"]["disable_parallel_tool_use"] = True
    if request.sink_options:
        out["sink_options"] = request.sink_options
    if request.extra:
        # Options of the client's dialect without a neutral form: kept, so that a transform
        # cannot make them vanish (a sink that cannot carry them still refuses them).
        out["extra"] = request.extra
        out["extra_dialect"] = request.extra_dialect
    return out


def request_from_json(data: Any, *, default_model: str | None = None) -> ir.Request:
    """A request from a transform's output; raises InvalidRequest naming what is wrong."""
    if not isinstance(data, dict):
        raise InvalidRequest("the request transforms must produce a JSON object")
    raw_messages = f.get(data, "messages", list, "", required=True)
    messages = []
    for i in range(len(raw_messages)):
        messages.append(message_to_ir(f.object_at(raw_messages, i, "messages"), f"messages[{i}]"))
    if not any(message.role != "system" for message in messages):
        raise InvalidRequest("messages: at least one user or assistant message is required")
    tools = [
        ir.Tool(
            name=f.get(t, "name", str, f"tools[{i}]", required=True),
            input_schema=f.get(t, "input_schema", dict, f"tools[{i}]", required=True),
            description=f.get(t, "description", str, f"tools[{i}]"),
            strict=f.get(t, "strict", bool, f"tools[{i}]", default=False),
            freeform=f.get(t, "freeform", bool, f"tools[{i}]", default=False),
            namespace=f.get(t, "namespace", str, f"tools[{i}]"),
        )
        for i, t in enumerate(f.get(data, "tools", list, "", default=[]))
    ]
    choice = f.get(data, "tool_choice", dict, "")
    extra = f.get(data, "extra", dict, "", default={})
    model = f.get(data, "model", str, "") or default_model
    if not model:
        raise InvalidRequest("model: field required", param="model")
    return ir.Request(
        model=model,
        messages=messages,
        system=f.get(data, "system", str, ""),
        max_tokens=f.positive_int(data, "max_tokens", ""),
        temperature=f.number_in(data, "temperature", "", 0.0, 1.0),
        top_p=f.number_in(data, "top_p", "", 0.0, 1.0),
        top_k=f.positive_int(data, "top_k", ""),
        stop=f.stop_list(data.get("stop"), "stop"),
        tools=tools,
        tool_choice=_tool_choice(choice),
        hosted_tools=[
            f.get({"name": name}, "name", str, "hosted_tools")
            for name in f.get(data, "hosted_tools", list, "", default=[])
        ],
        output_format=_output_format(f.get(data, "output_format", dict, "")),
        effort=_effort(f.get(data, "effort", str, "")),
        show_reasoning=f.get(data, "show_reasoning", bool, "", default=False),
        stream=f.get(data, "stream", bool, "", default=False),
        stream_usage=f.get(data, "stream_usage", bool, "", default=False),
        user=f.get(data, "user", str, ""),
        sink_options=f.get(data, "sink_options", dict, "", default={}),
        extra=extra,
        extra_dialect=f.get(data, "extra_dialect", str, "") if extra else None,
    )


def _tool_to_json(tool: ir.Tool) -> dict[str, Any]:
    out = {"description": None} | tool_from_ir(tool)
    if tool.freeform:
        out["freeform"] = True
    if tool.namespace:
        out["namespace"] = tool.namespace
    return out


def _effort(value: str | None) -> ir.Effort | None:
    if value is not None and value not in ir.EFFORTS:
        raise InvalidRequest(f"effort: must be one of {', '.join(ir.EFFORTS)}", param="effort")
    return value  # type: ignore[return-value]


def _output_format(raw: dict[str, Any] | None) -> ir.OutputFormat | None:
    if raw is None:
        return None
    schema = f.get(raw, "schema", dict, "output_format", required=True)
    return ir.OutputFormat(schema, f.get(raw, "name", str, "output_format") or "output")


def _tool_choice(choice: dict[str, Any] | None) -> ir.ToolChoice | None:
    if choice is None:
        return None
    kind = choice.get("type")
    if kind not in ("auto", "any", "tool", "none"):
        raise InvalidRequest("tool_choice.type: must be one of auto, any, tool, none")
    return ir.ToolChoice(
        kind,
        f.get(choice, "name", str, "tool_choice", required=kind == "tool"),
        f.get(choice, "disable_parallel_tool_use", bool, "tool_choice", default=False),
    )


def response_to_json(response: ir.Response) -> dict[str, Any]:
    return {
        "id": response.id,
        "model": response.model,
        "text": response.text,
        "content": blocks_from_ir(response.content),
        "stop_reason": response.stop_reason,
        "stop_sequence": response.stop_sequence,
        "usage": usage_from_ir(response.usage),
        "cost_usd": response.cost_usd,
    }


def response_from_json(data: Any) -> ir.Response:
    """A response back from response transforms that kept the IR shape."""
    if not isinstance(data, dict):
        raise InvalidRequest("the response transforms must produce a JSON object")
    return response_to_ir(data)
