"""Anthropic content blocks, usage and stream events <-> IR."""

from __future__ import annotations

import json
from typing import Any

from .. import ir
from ..errors import GatewayError, InvalidRequest, error_for_upstream_status
from . import fields as f

__all__ = [
    "EventDecoder",
    "block_from_ir",
    "blocks_from_ir",
    "blocks_to_ir",
    "document_from_ir",
    "error_for_error_type",
    "message_from_ir",
    "message_to_ir",
    "output_config_from_ir",
    "parameters_from_ir",
    "response_to_ir",
    "tool_from_ir",
    "usage_from_ir",
    "usage_to_ir",
    "with_extra",
]


def message_to_ir(raw: dict[str, Any], path: str) -> ir.Message:
    """One entry of ``messages``; a ``system`` entry holds text only."""
    role = f.get(raw, "role", str, path, required=True)
    if role not in ("user", "assistant", "system"):
        raise InvalidRequest(
            f"{path}.role: must be 'user', 'assistant' or 'system', got '{role}'",
            param=f"{path}.role",
        )
    content = raw.get("content")
    if role == "system" and content is None:
        content = []  # a per-turn setting alone (output_config)
    content = blocks_to_ir(content, f"{path}.content")
    if role == "system" and not all(isinstance(part, ir.Text) for part in content):
        raise InvalidRequest(
            f"{path}.content: a system turn holds only text blocks", param=f"{path}.content"
        )
    return ir.Message(role, content)


def message_from_ir(message: ir.Message) -> dict[str, Any]:
    return {"role": message.role, "content": blocks_from_ir(message.content)}


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
            if not isinstance(part, ir.Text | ir.Image | ir.Document):
                raise InvalidRequest(
                    f"{path}.content: a tool result holds only text, images and documents",
                    param=path,
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
    if kind == "document":
        return _document(block, path)
    if kind == "redacted_thinking":
        # Encrypted reasoning from an earlier turn: only the API that produced it can read it,
        # and it does not take part in the answer to the new turn.
        return None
    raise InvalidRequest(
        f"{path}.type: content blocks of type '{kind}' are not supported by this gateway "
        "(supported: text, image, document, tool_use, tool_result, thinking)",
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


def _document(block: dict[str, Any], path: str) -> ir.Document:
    citations = f.get(block, "citations", dict, path, default={})
    if citations.get("enabled"):
        raise InvalidRequest(
            f"{path}.citations: citations are answered only on a route that passes through to "
            "the Anthropic API (such as /api/v1/messages)",
            param=f"{path}.citations",
        )
    source = f.get(block, "source", dict, path, required=True)
    where = f"{path}.source"
    kind = source.get("type")
    document = ir.Document(
        title=f.get(block, "title", str, path), context=f.get(block, "context", str, path)
    )
    if kind == "base64":
        document.media_type = f.get(source, "media_type", str, where, required=True)
        document.data = f.get(source, "data", str, where, required=True)
    elif kind == "text":
        document.media_type = f.get(source, "media_type", str, where, default="text/plain")
        document.data = f.get(source, "data", str, where, required=True)
    elif kind == "url":
        document.url = f.get(source, "url", str, where, required=True)
    else:
        raise InvalidRequest(
            f"{where}.type: document sources of type '{kind}' are not supported here (use "
            "base64, text or url; uploaded files are reachable on a passthrough route only)",
            param=f"{where}.type",
        )
    return document


def document_from_ir(document: ir.Document) -> dict[str, Any]:
    if document.url is not None:
        source: dict[str, Any] = {"type": "url", "url": document.url}
    elif document.media_type == "text/plain":
        source = {"type": "text", "media_type": "text/plain", "data": document.data}
    else:
        source = {"type": "base64", "media_type": document.media_type, "data": document.data}
    block: dict[str, Any] = {"type": "document", "source": source}
    if document.title is not None:
        block["title"] = document.title
    if document.context is not None:
        block["context"] = document.context
    return block


def blocks_from_ir(content: list[ir.Content]) -> list[dict[str, Any]]:
    return [block_from_ir(part) for part in content]


def block_from_ir(part: ir.Content) -> dict[str, Any]:
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
        case ir.Document():
            return document_from_ir(part)
        case ir.ToolUse(id=id_, name=name, input=input_):
            return {"type": "tool_use", "id": id_, "name": name, "input": input_}
        case ir.ToolResult(tool_use_id=tool_use_id, content=content, is_error=is_error):
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id}
            # A tool that printed nothing (or only blank lines): the API refuses a text block
            # without non-blank text, not a result without content.
            content = [c for c in content if not (isinstance(c, ir.Text) and not c.text.strip())]
            if content:
                block["content"] = blocks_from_ir(content)  # type: ignore[arg-type]
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
    for key, value in (raw if isinstance(raw, dict) else {}).items():
        if key in _USAGE_FIELDS and isinstance(value, int):
            setattr(usage, key, value)
    return usage


_USAGE_FIELDS = set(ir.Usage.__slots__)  # type: ignore[attr-defined]


def response_to_ir(message: dict[str, Any]) -> ir.Response:
    """An Anthropic message object as a response; raises InvalidRequest on bad content.

    Blocks the IR has no type for (server tool calls and their results) are left out, as the
    stream decoder leaves them out."""
    content = message.get("content", [])
    if isinstance(content, list):
        content = [b for b in content if not isinstance(b, dict) or b.get("type") in _ANSWER_BLOCKS]
    return ir.Response(
        id=_string(message.get("id")),
        model=_string(message.get("model")),
        content=blocks_to_ir(content, "content"),
        stop_reason=message.get("stop_reason"),
        stop_sequence=message.get("stop_sequence"),
        usage=usage_to_ir(message.get("usage")),
        cost_usd=message.get("cost_usd"),
    )


_ANSWER_BLOCKS = frozenset({"text", "image", "document", "tool_use", "thinking"})


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parameters_from_ir(request: ir.Request) -> dict[str, Any]:
    """A request's options as Anthropic Messages body fields: sampling, tool choice, user,
    ``output_config``, and thinking when the client asked to see the model's reasoning."""
    body: dict[str, Any] = {}
    for key in ("max_tokens", "temperature", "top_p", "top_k"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = {"type": choice.type}
        if choice.name:
            body["tool_choice"]["name"] = choice.name
        if choice.disable_parallel_tool_use:
            body["tool_choice"]["disable_parallel_tool_use"] = True
    if request.user:
        body["metadata"] = {"user_id": request.user}
    output_config = output_config_from_ir(request)
    if output_config:
        body["output_config"] = output_config
    if request.show_reasoning and not _forced_tool(request):
        # Claude thinks only when asked; a forced tool choice and thinking exclude each other.
        body["thinking"] = {"type": "adaptive"}
    return body


def _forced_tool(request: ir.Request) -> bool:
    return request.tool_choice is not None and request.tool_choice.type in ("any", "tool")


def output_config_from_ir(request: ir.Request) -> dict[str, Any]:
    """``output_config`` for the request's structured output and effort (empty: neither)."""
    config: dict[str, Any] = {}
    if request.output_format is not None:
        config["format"] = {"type": "json_schema", "schema": request.output_format.schema}
    if request.effort is not None:
        config["effort"] = request.effort
    return config


def with_extra(body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the Anthropic options kept in ``Request.extra``; an ``output_config`` of
    both merges, so neither its neutral keys nor the others are lost."""
    merged = {**body, **extra}
    if isinstance(extra.get("output_config"), dict) and "output_config" in body:
        merged["output_config"] = {**extra["output_config"], **body["output_config"]}
    return merged


def tool_from_ir(tool: ir.Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name, "input_schema": tool.input_schema}
    if tool.description:
        out["description"] = tool.description
    if tool.strict:
        out["strict"] = True
    return out


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
