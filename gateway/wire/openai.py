"""OpenAI content parts, tools and tool_choice <-> IR."""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from .. import ir
from ..errors import InvalidRequest
from . import fields as f
from .tool_input import closed_objects

__all__ = [
    "HOSTED_TOOLS",
    "content_to_ir",
    "data_url",
    "document_to_file_part",
    "effort_to_ir",
    "image_from_url",
    "output_format_to_ir",
    "refuse_fields",
    "stream_options_asking_usage",
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
        elif kind == "file":  # Chat Completions
            parts.append(
                _document(f.get(part, "file", dict, where, required=True), f"{where}.file")
            )
        elif kind == "input_file":  # Responses
            parts.append(_document(part, where))
        else:
            raise InvalidRequest(
                f"{where}.type: content parts of type '{kind}' are not supported "
                "(supported: text, image_url, file)",
                param=f"{where}.type",
            )
    return parts


_TEXT_SUFFIXES = (".txt", ".md", ".csv", ".json", ".py", ".html", ".xml", ".log")


def _document(part: dict[str, Any], path: str) -> ir.Document:
    """A ``file`` part (``file_data`` as a data URL or bare base64) or a ``file_url``."""
    filename = f.get(part, "filename", str, path)
    url = f.get(part, "file_url", str, path)
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise InvalidRequest(f"{path}.file_url: must be an http(s):// URL", param=path)
        return ir.Document(url=url, title=filename)
    data = f.get(part, "file_data", str, path)
    if data is None:
        if part.get("file_id") is not None:
            raise InvalidRequest(
                f"{path}.file_id: this gateway stores no files; send the content as file_data "
                "(data:application/pdf;base64,...)",
                param=f"{path}.file_id",
            )
        raise InvalidRequest(f"{path}.file_data: field required", param=f"{path}.file_data")
    if data.startswith("data:"):
        header, _, data = data.partition(",")
        media_type, _, encoding = header[5:].partition(";")
        if encoding != "base64":
            raise InvalidRequest(f"{path}.file_data: data URLs must be base64 encoded", param=path)
    else:
        text_name = (filename or "").lower().endswith(_TEXT_SUFFIXES)
        media_type = "text/plain" if text_name else "application/pdf"
    if media_type == "application/pdf":
        try:
            base64.b64decode(data, validate=True)
        except binascii.Error:
            raise InvalidRequest(
                f"{path}.file_data: not valid base64", param=f"{path}.file_data"
            ) from None
        return ir.Document(media_type=media_type, data=data, title=filename)
    if media_type.startswith("text/") or media_type == "application/json":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidRequest(
                f"{path}.file_data: not base64 of UTF-8 text", param=f"{path}.file_data"
            ) from None
        return ir.Document(media_type="text/plain", data=text, title=filename)
    raise InvalidRequest(
        f"{path}.file_data: files of type '{media_type}' are not supported (Claude reads PDF "
        "and plain-text documents)",
        param=f"{path}.file_data",
    )


def document_to_file_part(document: ir.Document) -> dict[str, Any]:
    """A document as a Chat Completions ``file`` part."""
    if document.url is not None:
        raise InvalidRequest(
            "documents given by URL cannot be sent to an OpenAI-compatible upstream; send "
            "the file's content instead"
        )
    data = document.data or ""
    if document.media_type == "text/plain":
        data = base64.b64encode(data.encode()).decode()
    file: dict[str, Any] = {"file_data": f"data:{document.media_type};base64,{data}"}
    file["filename"] = document.title or (
        "document.txt" if document.media_type == "text/plain" else "document.pdf"
    )
    return {"type": "file", "file": file}


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


def tools_to_ir(tools: list[Any], *, hosted: list[str] | None = None) -> list[ir.Tool]:
    """Function, custom (freeform) and namespace tools; a hosted tool (``web_search``, ...) is
    added to ``hosted`` when given, else refused."""
    out: list[ir.Tool] = []
    for i in range(len(tools)):
        tool, path = f.object_at(tools, i, "tools"), f"tools[{i}]"
        kind = tool.get("type", "function")
        if kind == "namespace":
            namespace = f.get(tool, "name", str, path, required=True)
            inner = f.get(tool, "tools", list, path, required=True)
            for j in range(len(inner)):
                out.append(
                    _tool(f.object_at(inner, j, f"{path}.tools"), f"{path}.tools[{j}]", namespace)
                )
        elif kind in ("function", "custom"):
            out.append(_tool(tool, path, None))
        elif hosted is not None and isinstance(kind, str) and kind in HOSTED_TOOLS:
            if HOSTED_TOOLS[kind] not in hosted:
                hosted.append(HOSTED_TOOLS[kind])
        else:
            raise InvalidRequest(
                f"{path}.type: tools of type '{kind}' are not supported (supported: function, "
                "custom, namespace)",
                param=path,
            )
    return out


#: OpenAI's hosted tools, by the neutral name a sink that can run one knows it by.
HOSTED_TOOLS = {
    "web_search": "web_search",
    "web_search_preview": "web_search",
    "web_search_preview_2025_03_11": "web_search",
    "web_search_2025_08_26": "web_search",
}


def _tool(tool: dict[str, Any], path: str, namespace: str | None) -> ir.Tool:
    kind = tool.get("type", "function")
    # Chat nests the definition under "function" or "custom"; Responses has it at the top.
    spec = tool.get(kind, tool)
    if not isinstance(spec, dict):
        raise InvalidRequest(f"{path}.{kind}: expected an object", param=path)
    name = f.get(spec, "name", str, path, required=True)
    description = f.get(spec, "description", str, path)
    flat_name = f"{namespace}__{name}" if namespace else name
    if kind == "custom":
        return ir.Tool(
            flat_name,
            copy.deepcopy(ir.FREEFORM_SCHEMA),  # never shared: transforms may change it
            _freeform_description(description, spec.get("format"), path),
            freeform=True,
            namespace=namespace,
        )
    return ir.Tool(
        flat_name,
        f.get(spec, "parameters", dict, path) or {"type": "object", "properties": {}},
        description,
        strict=f.get(spec, "strict", bool, path, default=False),
        namespace=namespace,
    )


def _freeform_description(description: str | None, fmt: Any, path: str) -> str | None:
    """A grammar Claude cannot enforce, written into the description it reads."""
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return description
    grammar = fmt.get("grammar", fmt)  # chat nests it; Responses does not
    definition = grammar.get("definition") if isinstance(grammar, dict) else None
    if fmt.get("type") != "grammar" or not isinstance(definition, str):
        raise InvalidRequest(f"{path}.format: expected text or a grammar", param=f"{path}.format")
    syntax = grammar.get("syntax", "lark")
    rule = f"The input must follow this {syntax} grammar:\n{definition}"
    return f"{description}\n\n{rule}" if description else rule


def tools_from_ir(tools: list[ir.Tool]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools:
        if tool.freeform:
            custom: dict[str, Any] = {"name": tool.name}
            if tool.description:
                custom["description"] = tool.description
            out.append({"type": "custom", "custom": custom})
            continue
        function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
        if tool.description:
            function["description"] = tool.description
        if tool.strict:
            function["strict"] = True
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
        # Chat nests the name under "function" or "custom"; Responses has it at the top.
        function = raw.get("function") or raw.get("custom") or raw
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


# Claude's effort levels; OpenAI's `none` and `minimal` have no lower counterpart than `low`.
_EFFORTS = {"none": "low", "minimal": "low", "low": "low", "medium": "medium", "high": "high",
            "xhigh": "xhigh", "max": "max"}  # fmt: skip


def effort_to_ir(obj: dict[str, Any], key: str, path: str) -> ir.Effort | None:
    """OpenAI's reasoning effort as Claude's effort."""
    value = f.get(obj, key, str, path)
    if value is None:
        return None
    if value not in _EFFORTS:
        where = f"{path}.{key}" if path else key
        raise InvalidRequest(
            f"{where}: must be one of {', '.join(_EFFORTS)}, got '{value[:50]}'", param=where
        )
    return _EFFORTS[value]  # type: ignore[return-value]


def stream_options_asking_usage(body: dict[str, Any]) -> dict[str, Any] | None:
    """The ``stream_options`` that make an OpenAI chat upstream report a stream's usage, for
    a streamed body that does not ask for it (the tokens count all the same: a key's token
    limits, the ledger); None when nothing changes."""
    if body.get("stream") is not True:
        return None
    options = body.get("stream_options")
    if options is None:
        return {"include_usage": True}
    if not isinstance(options, dict) or options.get("include_usage") is True:
        return None  # asked already, or malformed: the upstream answers as it would
    return {**options, "include_usage": True}


def refuse_fields(
    body: dict[str, Any], refused: dict[str, str], harmless: dict[str, tuple[Any, ...]]
) -> None:
    """A 400 naming the first field of ``refused`` that asks for something (a value other than
    null or the ones ``harmless`` lists: a client's defaults)."""
    for key, why in refused.items():
        value = body.get(key)
        if value is not None and value not in harmless.get(key, ()):
            raise InvalidRequest(f"{key}: {why}", param=key)


def output_format_to_ir(
    raw: dict[str, Any] | None, *, nested: bool, param: str
) -> ir.OutputFormat | None:
    """Chat's ``response_format`` (``nested``: the schema under ``json_schema``) or Responses'
    ``text.format`` as a structured output."""
    kind = None if raw is None else raw.get("type")
    if kind in (None, "text"):
        return None
    example = (
        "{'type': 'json_schema', 'json_schema': {'name': ..., 'schema': ...}}"
        if nested
        else "{'type': 'json_schema', 'name': ..., 'schema': ...}"
    )
    if kind == "json_object":
        raise InvalidRequest(
            f"{param}: Claude guarantees JSON only for a given schema (its structured outputs "
            f"need every object's properties listed); send {example} instead",
            param=param,
        )
    if kind != "json_schema":
        raise InvalidRequest(
            f"{param}.type: must be text or json_schema, got '{kind}'", param=param
        )
    where = f"{param}.json_schema" if nested else param
    spec = f.get(raw, "json_schema", dict, param, required=True) if nested else raw
    return ir.OutputFormat(
        closed_objects(f.get(spec, "schema", dict, where, required=True)),
        f.get(spec, "name", str, where) or "output",
        strict=f.get(spec, "strict", bool, where, default=False),
    )
