"""Anthropic stream events <-> IR: decoding an upstream's events, and the events that would
have brought a whole message."""

from __future__ import annotations

import json
from typing import Any

from .. import ir
from ..errors import GatewayError, error_for_upstream_status
from .anthropic import usage_to_ir

__all__ = ["EventDecoder", "block_stream_events", "error_for_error_type"]


class EventDecoder:
    """Anthropic stream events (decoded JSON) as IR events; keeps the usage seen so far.

    Blocks the IR has no type for (``redacted_thinking``, server tool blocks) are left out, and
    the others renumbered so that indexes stay contiguous, as every client expects.
    """

    def __init__(self) -> None:
        self._usage = ir.Usage()
        self._index: dict[int, int | None] = {}
        self._empty_tool_inputs: set[int] = set()  # tool_use blocks with no input yet

    def decode(self, data: dict[str, Any]) -> list[ir.Event]:
        kind = data.get("type")
        if kind == "content_block_delta":
            index = self._index.get(data["index"])
            if index is None:
                return []
            delta = data["delta"]
            match delta.get("type"):
                case "text_delta":
                    return [ir.TextDelta(index, delta["text"])]
                case "input_json_delta":
                    if not delta["partial_json"]:  # what the API sends for a call without input
                        return []
                    self._empty_tool_inputs.discard(index)
                    return [ir.ToolInputDelta(index, delta["partial_json"])]
                case "thinking_delta":
                    return [ir.ThinkingDelta(index, delta["thinking"])]
                case "signature_delta":
                    return [ir.SignatureDelta(index, delta["signature"])]
            return []
        if kind == "message_start":
            message = data["message"]
            self._usage = usage_to_ir(message.get("usage"))
            self._index, self._empty_tool_inputs = {}, set()
            return [ir.MessageStart(message.get("id", ""), message.get("model", ""), self._usage)]
        if kind == "content_block_start":
            block = _empty_block(data["content_block"])
            if block is None:
                self._index[data["index"]] = None
                return []
            index = self._index[data["index"]] = sum(i is not None for i in self._index.values())
            if isinstance(block, ir.ToolUse):
                self._empty_tool_inputs.add(index)
            return [ir.BlockStart(index, block)]
        if kind == "content_block_stop":
            index = self._index.get(data["index"])
            if index is None:
                return []
            if index in self._empty_tool_inputs:  # a call without arguments: its input is {}
                self._empty_tool_inputs.discard(index)
                return [ir.ToolInputDelta(index, "{}"), ir.BlockStop(index)]
            return [ir.BlockStop(index)]
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
            raise error_for_error_type(error.get("type", ""), error.get("message", "unknown error"))
        return []


def block_stream_events(blocks: list[dict[str, Any]], first_index: int) -> list[dict[str, Any]]:
    """The stream events that would have brought the content ``blocks`` of a whole message,
    numbered from ``first_index``: a block's start, its content as one delta, its stop."""
    events: list[dict[str, Any]] = []
    for index, block in enumerate(blocks, first_index):
        kind = block.get("type")
        if kind == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": block.get("text") or ""}]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block.get("thinking") or ""},
                {"type": "signature_delta", "signature": block.get("signature") or ""},
            ]
        elif kind == "tool_use":
            start = {**block, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": json.dumps(block.get("input") or {})}
            ]
        else:  # blocks the IR has no type for: the decoder leaves them out
            start, deltas = block, []
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    return events


def _empty_block(block: dict[str, Any]) -> ir.Text | ir.ToolUse | ir.Thinking | None:
    kind = block.get("type")
    if kind == "text":
        return ir.Text(block.get("text", ""))
    if kind == "tool_use":
        return ir.ToolUse(block["id"], block["name"])
    if kind == "thinking":
        return ir.Thinking("", block.get("signature") or None)
    return None


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


def error_for_error_type(kind: str, message: str) -> GatewayError:
    return error_for_upstream_status(_STATUS_BY_TYPE.get(kind, 500), message)
