"""A request transform: e-mail addresses in user turns and the system prompt become [email]."""

import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _redact_blocks(blocks):
    for block in blocks:
        if block.get("type") == "text":
            block["text"] = EMAIL.sub("[email]", block["text"])
        elif block.get("type") == "tool_result":
            _redact_blocks(block.get("content", []))


def transform(payload, context):
    """payload is the gateway's request as JSON (see gateway/schemas/ir.request.schema.json)."""
    if payload.get("system"):
        payload["system"] = EMAIL.sub("[email]", payload["system"])
    for message in payload["messages"]:
        if message["role"] == "user":
            _redact_blocks(message["content"])
    return payload
