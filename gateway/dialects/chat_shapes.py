"""Chat Completions routes take the other request shapes editors post there.

Cursor posts to ``/chat/completions`` whatever its model name suggests: a Responses body
(``input`` instead of ``messages``, flat and ``custom`` tools, ``reasoning``, ``include``, ...)
for names with "gpt", and Anthropic pieces (``system`` as a block array, ``cache_control``
marks, tools with ``input_schema``, ``tool_choice`` objects) for names with "claude"; it reads
the answer as Chat Completions either way (public captures: LiteLLM's
``/cursor/chat/completions`` endpoint exists for the Responses shape; the Aether gateway's
"Accept Claude message bodies in OpenAI chat endpoints" for the Anthropic one).

The shape is read from the body alone, each decoded by the codec that owns it; the pieces of
one shape inside another are rewritten first. The answer is always Chat Completions.
"""

from __future__ import annotations

from typing import Any

from .. import ir
from . import anthropic_messages, openai_chat, openai_responses

__all__ = ["decode_request", "shape_of"]

# Content blocks only Anthropic's Messages API has.
_ANTHROPIC_BLOCKS = frozenset(
    {"tool_use", "tool_result", "document", "thinking", "redacted_thinking"}
)
# Top-level fields only Anthropic's Messages API has (``top_k`` and ``thinking`` are not:
# Chat clients send them too, and the Chat decoder carries them).
_ANTHROPIC_FIELDS = frozenset({"stop_sequences", "output_config"})
# Message features only Chat Completions has.
_CHAT_ROLES = frozenset({"tool", "developer", "function"})
_CHAT_PARTS = frozenset({"image_url", "input_audio", "file"})


def shape_of(body: dict[str, Any]) -> str:
    """The dialect whose shape ``body`` has: openai.chat, openai.responses or
    anthropic.messages."""
    if "messages" not in body and "input" in body:
        return openai_responses.NAME
    messages = body.get("messages")
    if not isinstance(messages, list):
        return openai_chat.NAME
    anthropic = isinstance(body.get("system"), str | list) or any(
        key in body for key in _ANTHROPIC_FIELDS
    )
    for message in messages:
        if not isinstance(message, dict):
            continue
        # Only strings are looked up: a list or an object in their place is not hashable.
        if _text(message.get("role")) in _CHAT_ROLES or "tool_calls" in message:
            return openai_chat.NAME
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            kind = _text(part.get("type")) if isinstance(part, dict) else None
            if kind in _CHAT_PARTS:
                return openai_chat.NAME
            if kind in _ANTHROPIC_BLOCKS or (kind == "image" and "source" in part):
                anthropic = True
    return anthropic_messages.NAME if anthropic else openai_chat.NAME


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def decode_request(body: dict[str, Any]) -> ir.Request:
    shape = shape_of(body)
    if shape == openai_responses.NAME:
        request = openai_responses.decode_request(_as_responses(body))
    elif shape == anthropic_messages.NAME:
        request = anthropic_messages.decode_request(_as_anthropic(body), max_tokens_required=False)
    else:
        return openai_chat.decode_request(_as_chat(body))
    # The answer is a Chat Completions stream, whatever shape the request had.
    request.stream_usage = openai_chat.include_usage(body)
    return request


def _system_text(system: Any) -> str | None:
    if isinstance(system, list):
        texts = [b.get("text") for b in system if isinstance(b, dict)]
        return "\n\n".join(t for t in texts if isinstance(t, str)) or None
    return system if isinstance(system, str) else None


def _as_chat(body: dict[str, Any]) -> dict[str, Any]:
    body = _openai_tools(body, nested=True)
    system = _system_text(body.get("system"))
    # Messages that are not a list are left for the decoder to refuse.
    if system is not None and isinstance(body.get("messages", []), list):
        body = {k: v for k, v in body.items() if k != "system"}
        body["messages"] = [{"role": "system", "content": system}, *body.get("messages", [])]
    return body


def _as_responses(body: dict[str, Any]) -> dict[str, Any]:
    body = _openai_tools(body, nested=False)
    system = _system_text(body.get("system"))
    # Instructions that are not a string are left for the decoder to refuse.
    if system is not None and isinstance(body.get("instructions"), str | None):
        body = {k: v for k, v in body.items() if k != "system"}
        instructions = body.get("instructions")
        body["instructions"] = f"{system}\n\n{instructions}" if instructions else system
    return body


def _as_anthropic(original: dict[str, Any]) -> dict[str, Any]:
    """OpenAI pieces in an otherwise Anthropic body: tool definitions, tool_choice strings,
    max_completion_tokens and user; stream_options is read by the Chat stream encoder."""
    body = {
        k: v for k, v in original.items() if k not in ("stream_options", "max_completion_tokens")
    }
    if "max_tokens" not in body and "max_completion_tokens" in original:
        body["max_tokens"] = original["max_completion_tokens"]
    if isinstance(original.get("user"), str):
        body.pop("user")
        body["metadata"] = {"user_id": original["user"], **(body.get("metadata") or {})}
    tools = body.get("tools")
    if isinstance(tools, list):
        body["tools"] = [_anthropic_tool(tool) for tool in tools]
    choice = body.get("tool_choice")
    if isinstance(choice, str) or (isinstance(choice, dict) and "function" in choice):
        body["tool_choice"] = _anthropic_choice(choice)
    return body


def _openai_tools(body: dict[str, Any], *, nested: bool) -> dict[str, Any]:
    """Anthropic tool definitions and tool_choice objects in an otherwise OpenAI body."""
    body = dict(body)
    tools = body.get("tools")
    if isinstance(tools, list):
        body["tools"] = [_openai_tool(tool, nested) for tool in tools]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("auto", "any", "none", "tool"):
        body["tool_choice"] = _openai_choice(choice, nested)
    return body


def _openai_tool(tool: Any, nested: bool) -> Any:
    if not isinstance(tool, dict) or "input_schema" not in tool or tool.get("type") == "function":
        return tool
    function: dict[str, Any] = {"name": tool.get("name"), "parameters": tool["input_schema"]}
    if "description" in tool:
        function["description"] = tool["description"]
    return (
        {"type": "function", "function": function} if nested else {"type": "function", **function}
    )


def _openai_choice(choice: dict[str, Any], nested: bool) -> Any:
    kind = choice["type"]
    if kind != "tool":
        return {"auto": "auto", "none": "none", "any": "required"}[kind]
    name = choice.get("name")
    return (
        {"type": "function", "function": {"name": name}}
        if nested
        else {"type": "function", "name": name}
    )


def _anthropic_tool(tool: Any) -> Any:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return tool
    spec = tool.get("function", tool)
    if not isinstance(spec, dict):
        return tool
    out: dict[str, Any] = {
        "name": spec.get("name"),
        "input_schema": spec.get("parameters") or {"type": "object", "properties": {}},
    }
    if "description" in spec:
        out["description"] = spec["description"]
    return out


def _anthropic_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return {"type": {"required": "any"}.get(choice, choice)}
    name = (
        choice.get("function", {}).get("name") if isinstance(choice.get("function"), dict) else None
    )
    return {"type": "tool", "name": name}
