"""OpenAI content parts, tools and tool_choice <-> IR."""

from __future__ import annotations

import json
from typing import Any

from .. import ir
from ..errors import InvalidRequest
from . import fields as f

__all__ = [
    "content_to_ir",
    "data_url",
    "image_from_url",
    "tool_choice_from_ir",
    "tool_choice_to_ir",
    "tools_from_ir",
    "tools_to_ir",
    "usage_to_ir",
]


def content_to_ir(content: Any, path: str) -> list[ir.Content]:
    """A message's ``content``: a string, or an array of text and image parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [ir.Text(content)]
    if not isinstance(content, list):
        raise InvalidRequest(f"{path}: expected a string or an array of content parts", param=path)
    parts: list[ir.Content] = []
    for i in range(len(content)):
        part = f.object_at(content, i, path)
        where = f"{path}[{i}]"
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(ir.Text(f.get(part, "text", str, where, required=True)))
        elif kind == "refusal":
            parts.append(ir.Text(f.get(part, "refusal", str, where, required=True)))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise InvalidRequest(f"{where}.image_url.url: field required", param=where)
            parts.append(image_from_url(url, where))
        elif kind == "input_image":
            parts.append(image_from_url(f.get(part, "image_url", str, where, required=True), where))
        else:
            raise InvalidRequest(
                f"{where}.type: content parts of type '{kind}' are not supported "
                "(supported: text, image_url)",
                param=f"{where}.type",
            )
    return parts


def image_from_url(url: str, path: str) -> ir.Image:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type, _, encoding = header[5:].partition(";")
        if encoding != "base64" or not data:
            raise InvalidRequest(
                f"{path}: data URLs must be base64 encoded (data:image/png;base64,...)", param=path
            )
        return ir.Image(media_type=media_type, data=data)
    if url.startswith(("http://", "https://")):
        return ir.Image(url=url)
    raise InvalidRequest(f"{path}: an image URL must be https://... or data:...", param=path)


def data_url(image: ir.Image) -> str:
    return image.url or f"data:{image.media_type};base64,{image.data}"


def tools_to_ir(tools: list[Any]) -> list[ir.Tool]:
    out = []
    for i in range(len(tools)):
        tool = f.object_at(tools, i, "tools")
        path = f"tools[{i}]"
        if tool.get("type", "function") != "function":
            raise InvalidRequest(
                f"{path}.type: only function tools are supported, got '{tool.get('type')}'",
                param=path,
            )
        # Chat nests the definition under "function"; Responses puts it at the top level.
        spec = tool.get("function", tool)
        if not isinstance(spec, dict):
            raise InvalidRequest(f"{path}.function: expected an object", param=path)
        out.append(
            ir.Tool(
                name=f.get(spec, "name", str, path, required=True),
                input_schema=f.get(spec, "parameters", dict, path)
                or {"type": "object", "properties": {}},
                description=f.get(spec, "description", str, path),
            )
        )
    return out


def tools_from_ir(tools: list[ir.Tool]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
        if tool.description:
            function["description"] = tool.description
        out.append({"type": "function", "function": function})
    return out


def tool_choice_to_ir(raw: Any) -> ir.ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none"):
        return ir.ToolChoice(raw)
    if raw == "required":
        return ir.ToolChoice("any")
    if isinstance(raw, dict):
        function = raw.get("function") if "function" in raw else raw
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str):
            return ir.ToolChoice("tool", name)
    raise InvalidRequest(
        "tool_choice: expected 'auto', 'none', 'required' or "
        "{'type': 'function', 'function': {'name': ...}}, got " + json.dumps(raw)[:200],
        param="tool_choice",
    )


def tool_choice_from_ir(choice: ir.ToolChoice) -> Any:
    if choice.type == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return {"auto": "auto", "none": "none", "any": "required"}[choice.type]


def usage_to_ir(raw: dict[str, Any] | None) -> ir.Usage:
    if not raw:
        return ir.Usage()
    cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return ir.Usage(
        input_tokens=(raw.get("prompt_tokens") or 0) - cached,
        output_tokens=raw.get("completion_tokens") or 0,
        cache_read_input_tokens=cached,
    )
