"""The gateway as a client of an OpenAI Chat Completions upstream: IR to JSON, SSE back to IR."""

from __future__ import annotations

import json
from typing import Any

from ... import ir
from ...errors import InvalidRequest, UpstreamError, error_for_upstream_status
from ...wire.openai import (
    content_to_ir,
    data_url,
    document_to_file_part,
    tool_choice_from_ir,
    tools_from_ir,
    usage_to_ir,
)
from ...wire.sse import ServerSentEvent
from ...wire.turns import results_follow_calls
from ..base import ModelEntry

__all__ = ["StreamDecoder", "decode_response", "encode_request"]

STOP_REASONS: dict[str | None, ir.StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def encode_request(request: ir.Request, *, default_max_tokens: int | None) -> dict[str, Any]:
    if request.top_k is not None:
        raise InvalidRequest("top_k: an OpenAI-compatible upstream has no top_k", param="top_k")
    if request.hosted_tools:
        raise InvalidRequest(
            "tools: hosted tools are not carried to an OpenAI-compatible chat upstream",
            param="tools",
        )
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in results_follow_calls(request.messages):
        messages.extend(_messages_from_ir(message))
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
    }
    max_tokens = request.max_tokens or default_max_tokens
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    for key in ("temperature", "top_p"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = request.stop
    if request.tools:
        body["tools"] = tools_from_ir(request.tools)
    if request.tool_choice is not None:
        body["tool_choice"] = tool_choice_from_ir(request.tool_choice)
        if request.tool_choice.disable_parallel_tool_use:
            body["parallel_tool_calls"] = False
    if request.user:
        body["user"] = request.user
    if request.output_format is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": request.output_format.name,
                "schema": request.output_format.schema,
                "strict": request.output_format.strict,
            },
        }
    if request.effort is not None:
        body["reasoning_effort"] = request.effort
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _messages_from_ir(message: ir.Message) -> list[dict[str, Any]]:
    """One IR turn as chat messages: tool results become ``tool`` messages of their own."""
    if message.role == "system":
        text = "".join(p.text for p in message.content if isinstance(p, ir.Text))
        return [{"role": "system", "content": text}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ir.Text):
            parts.append({"type": "text", "text": part.text})
        elif isinstance(part, ir.Image):
            parts.append({"type": "image_url", "image_url": {"url": data_url(part)}})
        elif isinstance(part, ir.Document):
            parts.append(document_to_file_part(part))
        elif isinstance(part, ir.ToolUse):
            arguments = json.dumps(part.input, ensure_ascii=False)
            calls.append(
                {"id": part.id, "type": "function",
                 "function": {"name": part.name, "arguments": arguments}}
            )  # fmt: skip
        elif isinstance(part, ir.ToolResult):
            out.append({"role": "tool", "tool_call_id": part.tool_use_id,
                        "content": _tool_result_text(part)})  # fmt: skip
    if message.role == "assistant":
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        assistant: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            assistant["tool_calls"] = calls
        out.append(assistant)
    elif parts:
        content: Any = parts[0]["text"] if len(parts) == 1 and "text" in parts[0] else parts
        out.append({"role": "user", "content": content})
    return out


def _tool_result_text(result: ir.ToolResult) -> str:
    if any(isinstance(p, ir.Image | ir.Document) for p in result.content):
        raise InvalidRequest(
            "tool results with images or documents cannot be carried to an OpenAI-compatible "
            "upstream (its tool messages hold text only)"
        )
    text = "".join(p.text for p in result.content if isinstance(p, ir.Text))
    return f"Error: {text}" if result.is_error else text


def model_entries(body: dict[str, Any]) -> list[ModelEntry]:
    """The models of a ``GET /models`` answer."""
    return [ModelEntry(m["id"], int(m.get("created") or 0)) for m in body["data"]]


def decode_response(body: dict[str, Any]) -> ir.Response:
    try:
        choice = body["choices"][0]
        message = choice["message"]
        content = content_to_ir(message.get("content"), "content")
        for call in message.get("tool_calls") or []:
            function = call["function"]
            content.append(
                ir.ToolUse(call["id"], function["name"], json.loads(function["arguments"] or "{}"))
            )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise UpstreamError(
            f"The upstream sent a completion the gateway cannot read: {exc!r}"
        ) from exc
    return ir.Response(
        id=body.get("id", ""),
        model=body.get("model", ""),
        content=content,
        stop_reason=STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
        usage=usage_to_ir(body.get("usage")),
    )


class StreamDecoder:
    """``chat.completion.chunk`` SSE from an upstream as IR events.

    Chat streams have no block boundaries: a block opens when the kind of delta changes (text,
    reasoning, or a new tool call) and closes when the next one opens or the choice finishes.
    """

    def __init__(self) -> None:
        self._started = False
        self._open: tuple[str, int] | None = None  # (kind, upstream tool-call index)
        self._open_call_id: str | None = None  # the id of the open tool call
        self._call_has_input = False  # the open tool call has had arguments
        self._index = -1
        self._stop: ir.StopReason | None = None
        self._usage = ir.Usage()
        self._done = False

    def decode(self, sse: ServerSentEvent) -> list[ir.Event]:
        if not sse.data:
            return []
        if sse.data.strip() == "[DONE]":
            return self.finish()
        chunk = sse.json()
        if chunk.get("error"):
            error = chunk["error"]
            raise error_for_upstream_status(500, str(error.get("message", error)))
        events: list[ir.Event] = []
        if not self._started:
            self._started = True
            events.append(ir.MessageStart(chunk.get("id", ""), chunk.get("model", "")))
        if chunk.get("usage"):
            self._usage = usage_to_ir(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) == 0:
                self._choice(choice, events)
        return events

    def _choice(self, choice: dict[str, Any], events: list[ir.Event]) -> None:
        delta = choice.get("delta") or {}
        if delta.get("reasoning_content"):
            self._ensure(("thinking", 0), ir.Thinking(""), events)
            events.append(ir.ThinkingDelta(self._index, delta["reasoning_content"]))
        if delta.get("content"):
            self._ensure(("text", 0), ir.Text(""), events)
            events.append(ir.TextDelta(self._index, delta["content"]))
        for call in delta.get("tool_calls") or []:
            function = call.get("function") or {}
            key, call_id = ("tool", call.get("index", 0)), call.get("id")
            # A call is its index; a new id at the same index is a new call too (some
            # compatible servers number every call 0), the same id again is not (some repeat it).
            if self._open != key or (call_id and call_id != self._open_call_id):
                self._close(events)
                self._open_block(key, ir.ToolUse(call_id or "", function.get("name", "")), events)
                self._open_call_id = call_id
            if function.get("arguments"):
                events.append(ir.ToolInputDelta(self._index, function["arguments"]))
                self._call_has_input = True
        if choice.get("finish_reason"):
            self._close(events)
            self._stop = STOP_REASONS.get(choice["finish_reason"], "end_turn")

    def _ensure(self, key: tuple[str, int], block: Any, events: list[ir.Event]) -> None:
        if self._open != key:
            self._close(events)
            self._open_block(key, block, events)

    def _open_block(self, key: tuple[str, int], block: Any, events: list[ir.Event]) -> None:
        self._index += 1
        self._open, self._call_has_input = key, False
        events.append(ir.BlockStart(self._index, block))

    def _close(self, events: list[ir.Event]) -> None:
        if self._open is not None:
            if self._open[0] == "tool" and not self._call_has_input:
                events.append(ir.ToolInputDelta(self._index, "{}"))  # called without arguments
            events.append(ir.BlockStop(self._index))
            self._open = None

    def finish(self) -> list[ir.Event]:
        """The closing events, once: at ``[DONE]`` or when the upstream simply stops."""
        if self._done or not self._started:
            return []
        if self._stop is None:
            raise UpstreamError("The upstream's stream ended before it said why it stopped")
        self._done = True
        events: list[ir.Event] = []
        self._close(events)
        events += [ir.MessageDelta(self._stop, None, self._usage), ir.MessageStop()]
        return events
