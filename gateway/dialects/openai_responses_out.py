"""OpenAI Responses answers: whole responses and their SSE streams, from IR responses and events."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from .. import ir
from ..errors import GatewayError
from ..wire.sse import sse_json
from ..wire.tool_input import FreeformInput
from .openai_chat_out import encode_error

__all__ = ["SIGNATURE_PREFIX", "StreamEncoder", "encode_response", "new_item_id"]

#: Marks a thinking signature in ``encrypted_content``, to tell it from other providers' blobs.
SIGNATURE_PREFIX = "claude-thinking:"


def _new_response_id() -> str:
    """A response id of the gateway's own, never the upstream's: stored responses and their
    items are found by id, and an upstream's ids need not be unique (an OpenAI-compatible
    server may answer every request with the same one)."""
    return "resp_" + uuid.uuid4().hex


def _output_item_id(prefix: str, response_id: str, index: int) -> str:
    """The id of the output item at ``index`` (a content block's), unique as its response's:
    ``msg_``, ``rs_`` and ``fc_`` as OpenAI's, which clients such as LangChain look for."""
    return f"{prefix}_{response_id.removeprefix('resp_')}_{index}"


def new_item_id(prefix: str) -> str:
    """An id for an input item the client sent without one (``msg``, ``fco``, ...)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def _usage(usage: ir.Usage) -> dict[str, Any]:
    prompt = usage.prompt_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + usage.output_tokens,
    }


def _message_item(
    item_id: str, text: str, status: str = "completed", *, refused: bool = False
) -> dict[str, Any]:
    if refused:
        content = [{"type": "refusal", "refusal": text}]
    else:
        content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _reasoning_item(
    item_id: str, text: str, signature: str | None, status: str = "completed"
) -> dict[str, Any]:
    """Claude's thinking as a reasoning item; its signature travels as ``encrypted_content``,
    so that a client that sends the item back returns the thinking block intact."""
    summary = [{"type": "summary_text", "text": text}] if text or status == "completed" else []
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": summary,
        "encrypted_content": SIGNATURE_PREFIX + signature if signature else None,
        "status": status,
    }


def _call_item(
    part: ir.ToolUse,
    request: ir.Request | None,
    arguments: str,
    response_id: str,
    index: int,
    status: str = "completed",
) -> dict[str, Any]:
    """A tool call in the shape its tool was declared in: ``function_call`` or
    ``custom_tool_call``, with the client's own name and namespace."""
    tool = request.tool(part.name) if request is not None else None
    item: dict[str, Any] = {"id": _output_item_id("fc", response_id, index), "call_id": part.id}
    if tool is not None and tool.freeform:
        item_id = _output_item_id("ctc", response_id, index)
        item |= {"type": "custom_tool_call", "id": item_id, "input": arguments}
    else:
        item |= {"type": "function_call", "arguments": arguments}
    item["name"] = tool.client_name if tool is not None else part.name
    if tool is not None and tool.namespace:
        item["namespace"] = tool.namespace
    item["status"] = status
    return item


def _call_arguments(part: ir.ToolUse, request: ir.Request | None) -> str:
    tool = request.tool(part.name) if request is not None else None
    if tool is not None and tool.freeform:
        return str(part.input.get("input", ""))
    return json.dumps(part.input, ensure_ascii=False)


def _envelope(response_id: str, model: str, created: int, status: str) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model,
        "output": [],
        "error": None,
        "incomplete_details": None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": None,
    }


_INCOMPLETE = {"max_tokens": "max_output_tokens", "refusal": "content_filter"}


def _finish(
    envelope: dict[str, Any], stop_reason: str | None, usage: ir.Usage, *, streamed: bool
) -> dict[str, Any]:
    # A refusal answered whole is a completed response with a refusal part; a stream has
    # already sent its text as output_text, so it ends incomplete (content_filter).
    reason = _INCOMPLETE.get(stop_reason or "")
    if stop_reason == "refusal" and not streamed:
        reason = None
    envelope["status"] = "incomplete" if reason else "completed"
    envelope["incomplete_details"] = {"reason": reason} if reason else None
    envelope["usage"] = _usage(usage)
    return envelope


def encode_response(response: ir.Response, request: ir.Request | None = None) -> dict[str, Any]:
    response_id = _new_response_id()
    envelope = _envelope(response_id, response.model, int(time.time()), "")
    refused = response.stop_reason == "refusal"
    output = envelope["output"]
    for index, part in enumerate(response.content):
        if isinstance(part, ir.Text):
            item_id = _output_item_id("msg", response_id, index)
            output.append(_message_item(item_id, part.text, refused=refused))
        elif isinstance(part, ir.Thinking):
            item_id = _output_item_id("rs", response_id, index)
            output.append(_reasoning_item(item_id, part.thinking, part.signature))
        elif isinstance(part, ir.ToolUse):
            arguments = _call_arguments(part, request)
            output.append(_call_item(part, request, arguments, response_id, index))
    return _finish(envelope, response.stop_reason, response.usage, streamed=False)


class StreamEncoder:
    """IR events as Responses SSE: every event numbered, its SSE ``event:`` equal to its type."""

    def __init__(self, request: ir.Request) -> None:
        self._request = request
        self._sequence = 0
        self._envelope = _envelope(
            _new_response_id(), request.model, int(time.time()), "in_progress"
        )
        self._items: dict[int, dict[str, Any]] = {}  # block index -> output item being built
        self._parts: dict[int, list[str]] = {}
        self._calls: dict[int, ir.ToolUse] = {}
        self._freeform: dict[int, FreeformInput] = {}
        self._signatures: dict[int, str] = {}
        self._stop: str | None = None
        self._usage = ir.Usage()
        #: The response object of the last lifecycle event (created, completed, failed, ...).
        self.response: dict[str, Any] = self._envelope

    def echo(self, fields: dict[str, Any]) -> None:
        """Request fields every lifecycle event's response repeats (``previous_response_id``,
        ``instructions``, ``metadata``, ``store``); before the first event is encoded."""
        self._envelope.update(fields)

    def unfinished(self) -> dict[str, Any]:
        """The response as far as it was sent, for a stream that ends without its last event:
        ``incomplete`` (with no reason: the API's two, ``max_output_tokens`` and
        ``content_filter``, would both be untrue), an item cut short with what it had."""
        output = []
        for index, item in self._items.items():
            if item["status"] == "in_progress":
                item = self._cut_short(index, item)
            output.append(item)
        return dict(self._envelope, status="incomplete", output=output)

    def _cut_short(self, index: int, item: dict[str, Any]) -> dict[str, Any]:
        text = "".join(self._parts[index])
        if item["type"] == "message":
            return _message_item(item["id"], text, "incomplete")
        if item["type"] == "reasoning":
            return _reasoning_item(item["id"], text, None, "incomplete")
        return dict(
            item, status="incomplete", **{"input" if "input" in item else "arguments": text}
        )

    def _event(self, kind: str, **payload: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **payload}
        self._sequence += 1
        return sse_json(data, kind)

    def encode(self, event: ir.Event) -> bytes:
        match event:
            case ir.MessageStart(model=model):
                self._envelope["model"] = model or self._envelope["model"]
                snapshot = dict(self._envelope, output=[])
                return self._event("response.created", response=snapshot) + self._event(
                    "response.in_progress", response=snapshot
                )
            case ir.BlockStart(index=index, block=ir.Text()):
                item_id = _output_item_id("msg", self._envelope["id"], index)
                return self._open(index, _message_item(item_id, "", "in_progress"))
            case ir.BlockStart(index=index, block=ir.Thinking()):
                item_id = _output_item_id("rs", self._envelope["id"], index)
                return self._open(index, _reasoning_item(item_id, "", None, "in_progress"))
            case ir.BlockStart(index=index, block=ir.ToolUse() as call):
                self._calls[index] = call
                response_id = self._envelope["id"]
                item = _call_item(call, self._request, "", response_id, index, "in_progress")
                if item["type"] == "custom_tool_call":
                    self._freeform[index] = FreeformInput()
                return self._open(index, item)
            case ir.TextDelta(index=index, text=text) if index in self._items:
                return self._delta("response.output_text.delta", index, text, content_index=0)
            case ir.ThinkingDelta(index=index, thinking=text) if index in self._items:
                return self._delta(
                    "response.reasoning_summary_text.delta", index, text, summary_index=0
                )
            case ir.SignatureDelta(index=index, signature=signature):
                self._signatures[index] = signature
            case ir.ToolInputDelta(index=index, partial_json=fragment) if index in self._items:
                if index in self._freeform:
                    text = self._freeform[index].feed(fragment)
                    kind = "response.custom_tool_call_input.delta"
                    return self._delta(kind, index, text) if text else b""
                return self._delta("response.function_call_arguments.delta", index, fragment)
            case ir.BlockStop(index=index) if index in self._items:
                return self._close(index)
            case ir.MessageDelta(stop_reason=reason, usage=usage):
                self._stop, self._usage = reason, usage
        return b""

    def _delta(self, kind: str, index: int, delta: str, **where: int) -> bytes:
        self._parts[index].append(delta)
        extra = {"logprobs": []} if kind == "response.output_text.delta" else {}
        return self._event(
            kind,
            item_id=self._items[index]["id"],
            output_index=self._output_index(index),
            **where,
            delta=delta,
            **extra,
        )

    def _output_index(self, index: int) -> int:
        return list(self._items).index(index)

    def _open(self, index: int, item: dict[str, Any]) -> bytes:
        self._items[index] = item
        self._parts[index] = []
        out = self._event(
            "response.output_item.added", output_index=self._output_index(index), item=item
        )
        where = {"item_id": item["id"], "output_index": self._output_index(index)}
        if item["type"] == "message":
            out += self._event(
                "response.content_part.added",
                **where,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": []},
            )
        elif item["type"] == "reasoning":
            out += self._event(
                "response.reasoning_summary_part.added",
                **where,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        return out

    def _close(self, index: int) -> bytes:
        item, text = self._items[index], "".join(self._parts[index])
        where = {"item_id": item["id"], "output_index": self._output_index(index)}
        if item["type"] == "message":
            done = _message_item(item["id"], text)
            out = self._event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            )
            out += self._event(
                "response.content_part.done", **where, content_index=0, part=done["content"][0]
            )
        elif item["type"] == "reasoning":
            done = _reasoning_item(item["id"], text, self._signatures.get(index))
            out = self._event(
                "response.reasoning_summary_text.done", **where, summary_index=0, text=text
            )
            out += self._event(
                "response.reasoning_summary_part.done",
                **where,
                summary_index=0,
                part=done["summary"][0],
            )
        else:
            done = _call_item(self._calls[index], self._request, text, self._envelope["id"], index)
            if done["type"] == "custom_tool_call":
                out = self._event("response.custom_tool_call_input.done", **where, input=text)
            else:
                out = self._event(
                    "response.function_call_arguments.done",
                    **where,
                    name=done["name"],
                    arguments=text,
                )
        self._items[index] = done
        return out + self._event(
            "response.output_item.done", output_index=where["output_index"], item=done
        )

    def end(self) -> bytes:
        envelope = _finish(dict(self._envelope), self._stop, self._usage, streamed=True)
        envelope["output"] = list(self._items.values())
        self.response = envelope
        kind = "response.incomplete" if envelope["status"] == "incomplete" else "response.completed"
        return self._event(kind, response=envelope)

    def error(self, error: GatewayError) -> bytes:
        status, body = encode_error(error)
        code = body["error"]["code"] or body["error"]["type"]
        envelope = dict(self._envelope, status="failed", output=list(self._items.values()))
        # The response's error code is one of a fixed list (the SDK's ResponseError); clients
        # look for rate_limit_exceeded to wait. The error event keeps the detailed code.
        failed = "rate_limit_exceeded" if status == 429 else "server_error"
        envelope["error"] = {"code": failed, "message": error.message}
        self.response = envelope
        return self._event(
            "error", code=code, message=error.message, param=body["error"]["param"]
        ) + self._event("response.failed", response=envelope)
