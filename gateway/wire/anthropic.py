"""Anthropic messages, content blocks, usage and request parameters <-> IR (stream events:
``anthropic_stream``)."""

from __future__ import annotations

from typing import Any

from .. import ir
from ..errors import InvalidRequest
from . import fields as f

__all__ = [
    "block_from_ir",
    "blocks_from_ir",
    "blocks_to_ir",
    "document_from_ir",
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
