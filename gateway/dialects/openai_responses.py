"""OpenAI Responses (``POST /v1/responses``), stateless: every request carries its whole input."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from .. import ir
from ..errors import GatewayError, InvalidRequest
from ..wire import fields as f
from ..wire.openai import content_to_ir, tool_choice_to_ir, tools_to_ir
from .openai_chat import encode_error
from .sse import sse_json

__all__ = ["NAME", "StreamEncoder", "decode_request", "encode_response"]

NAME = "openai.responses"

_REFUSED = {
    "previous_response_id": "this gateway keeps no state: send the whole conversation in 'input'",
    "conversation": "this gateway keeps no state: send the whole conversation in 'input'",
    "background": "background responses are not supported",
    "reasoning": "reasoning options are not supported through the Responses dialect",
    "prompt": "stored prompts are not supported",
}


def decode_request(body: dict[str, Any]) -> ir.Request:
    for key, why in _REFUSED.items():
        if body.get(key) not in (None, {}):
            raise InvalidRequest(f"{key}: {why}", param=key)
    fmt = (f.get(body, "text", dict, "") or {}).get("format")
    if fmt not in (None, {"type": "text"}):
        raise InvalidRequest("text.format: only {'type': 'text'} is supported", param="text.format")
    system = [f.get(body, "instructions", str, "") or ""]
    raw = body.get("input")
    if isinstance(raw, str):
        turns = [ir.Message("user", [ir.Text(raw)])]
    elif isinstance(raw, list):
        turns = _items(raw, system)
    else:
        raise InvalidRequest("input: expected a string or an array of input items", param="input")
    if not turns:
        raise InvalidRequest("input: at least one user message is required", param="input")
    tools = tools_to_ir(f.get(body, "tools", list, "", default=[]))
    tool_choice = tool_choice_to_ir(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False and tools:
        tool_choice = tool_choice or ir.ToolChoice("auto")
        tool_choice.disable_parallel_tool_use = True
    return ir.Request(
        model=f.get(body, "model", str, "", required=True),
        messages=turns,
        system="\n\n".join(s for s in system if s) or None,
        max_tokens=f.positive_int(body, "max_output_tokens", ""),
        temperature=f.number_in(body, "temperature", "", 0.0, 1.0),
        top_p=f.number_in(body, "top_p", "", 0.0, 1.0),
        tools=tools,
        tool_choice=tool_choice,
        stream=f.get(body, "stream", bool, "", default=False),
        user=f.get(body, "user", str, ""),
    )


def _items(items: list[Any], system: list[str]) -> list[ir.Message]:
    turns: list[ir.Message] = []

    def add(role: str, content: list[ir.Content]) -> None:
        if turns and turns[-1].role == role:
            turns[-1].content.extend(content)
        else:
            turns.append(ir.Message(role, content))  # type: ignore[arg-type]

    for i in range(len(items)):
        item = f.object_at(items, i, "input")
        path = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = f.get(item, "role", str, path, required=True)
            content = content_to_ir(item.get("content"), f"{path}.content")
            if role in ("system", "developer"):
                system.append("".join(p.text for p in content if isinstance(p, ir.Text)))
            elif role in ("user", "assistant"):
                add(role, content)
            else:
                raise InvalidRequest(
                    f"{path}.role: '{role}' is not supported", param=f"{path}.role"
                )
        elif kind == "function_call":
            arguments = f.get(item, "arguments", str, path, default="{}")
            try:
                parsed = json.loads(arguments or "{}")
            except ValueError:
                raise InvalidRequest(f"{path}.arguments: not valid JSON", param=path) from None
            add(
                "assistant",
                [
                    ir.ToolUse(
                        f.get(item, "call_id", str, path, required=True),
                        f.get(item, "name", str, path, required=True),
                        parsed,
                    )
                ],
            )
        elif kind == "function_call_output":
            output = item.get("output")
            content = content_to_ir(output, f"{path}.output") if output is not None else []
            call_id = f.get(item, "call_id", str, path, required=True)
            add("user", [ir.ToolResult(call_id, content)])  # type: ignore[arg-type]
        elif kind == "reasoning":
            continue  # reasoning summaries of earlier turns do not take part in the answer
        else:
            raise InvalidRequest(
                f"{path}.type: input items of type '{kind}' are not supported", param=path
            )
    return turns


# --- encoding --------------------------------------------------------------------------------


def _usage(usage: ir.Usage) -> dict[str, Any]:
    prompt = usage.prompt_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + usage.output_tokens,
    }


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _call_item(part: ir.ToolUse, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_" + part.id,
        "call_id": part.id,
        "name": part.name,
        "arguments": arguments,
        "status": status,
    }


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


def _finish(envelope: dict[str, Any], stop_reason: str | None, usage: ir.Usage) -> dict[str, Any]:
    incomplete = stop_reason == "max_tokens"
    envelope["status"] = "incomplete" if incomplete else "completed"
    envelope["incomplete_details"] = {"reason": "max_output_tokens"} if incomplete else None
    envelope["usage"] = _usage(usage)
    return envelope


def encode_response(response: ir.Response) -> dict[str, Any]:
    envelope = _envelope(
        "resp_" + response.id.removeprefix("msg_"), response.model, int(time.time()), ""
    )
    output = envelope["output"]
    for index, part in enumerate(response.content):
        if isinstance(part, ir.Text):
            output.append(_message_item(f"msg_{index}_{response.id}", part.text))
        elif isinstance(part, ir.ToolUse):
            output.append(_call_item(part, json.dumps(part.input, ensure_ascii=False)))
    return _finish(envelope, response.stop_reason, response.usage)


class StreamEncoder:
    """IR events as Responses SSE: every event numbered, its SSE ``event:`` equal to its type."""

    def __init__(self, request: ir.Request) -> None:
        self._sequence = 0
        self._envelope = _envelope(
            "resp_" + uuid.uuid4().hex, request.model, int(time.time()), "in_progress"
        )
        self._items: dict[int, dict[str, Any]] = {}  # block index -> output item being built
        self._parts: dict[int, list[str]] = {}
        self._calls: dict[int, ir.ToolUse] = {}
        self._stop: str | None = None
        self._usage = ir.Usage()

    def _event(self, kind: str, **payload: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **payload}
        self._sequence += 1
        return sse_json(data, kind)

    def encode(self, event: ir.Event) -> bytes:
        match event:
            case ir.MessageStart(id=id_, model=model):
                self._envelope["id"] = "resp_" + id_.removeprefix("msg_")
                self._envelope["model"] = model or self._envelope["model"]
                snapshot = dict(self._envelope, output=[])
                return self._event("response.created", response=snapshot) + self._event(
                    "response.in_progress", response=snapshot
                )
            case ir.BlockStart(index=index, block=ir.Text()):
                return self._open(
                    index, _message_item(f"msg_{index}_{self._envelope['id']}", "", "in_progress")
                )
            case ir.BlockStart(index=index, block=ir.ToolUse() as call):
                self._calls[index] = call
                return self._open(index, _call_item(call, "", "in_progress"))
            case ir.TextDelta(index=index, text=text) if index in self._items:
                self._parts[index].append(text)
                item = self._items[index]
                return self._event(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=self._output_index(index),
                    content_index=0,
                    delta=text,
                    logprobs=[],
                )
            case ir.ToolInputDelta(index=index, partial_json=fragment) if index in self._items:
                self._parts[index].append(fragment)
                item = self._items[index]
                return self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=self._output_index(index),
                    delta=fragment,
                )
            case ir.BlockStop(index=index) if index in self._items:
                return self._close(index)
            case ir.MessageDelta(stop_reason=reason, usage=usage):
                self._stop, self._usage = reason, usage
        return b""

    def _output_index(self, index: int) -> int:
        return list(self._items).index(index)

    def _open(self, index: int, item: dict[str, Any]) -> bytes:
        self._items[index] = item
        self._parts[index] = []
        out = self._event(
            "response.output_item.added", output_index=self._output_index(index), item=item
        )
        if item["type"] == "message":
            out += self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=self._output_index(index),
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": []},
            )
        return out

    def _close(self, index: int) -> bytes:
        item, text = self._items[index], "".join(self._parts[index])
        output_index = self._output_index(index)
        if item["type"] == "message":
            done = _message_item(item["id"], text)
            out = self._event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            out += self._event(
                "response.content_part.done",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                part=done["content"][0],
            )
        else:
            done = _call_item(self._calls[index], text)
            out = self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=output_index,
                name=done["name"],
                arguments=text,
            )
        self._items[index] = done
        return out + self._event("response.output_item.done", output_index=output_index, item=done)

    def end(self) -> bytes:
        envelope = _finish(dict(self._envelope), self._stop, self._usage)
        envelope["output"] = list(self._items.values())
        kind = "response.incomplete" if envelope["status"] == "incomplete" else "response.completed"
        return self._event(kind, response=envelope)

    def error(self, error: GatewayError) -> bytes:
        _, body = encode_error(error)
        code = body["error"]["code"] or body["error"]["type"]
        envelope = dict(self._envelope, status="failed", output=list(self._items.values()))
        envelope["error"] = {"code": code, "message": error.message}
        return self._event(
            "error", code=code, message=error.message, param=body["error"]["param"]
        ) + self._event("response.failed", response=envelope)
