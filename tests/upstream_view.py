"""Readers of what the mock upstream received, for tests that compare it with what was sent."""

from __future__ import annotations


def upstream_model(kind: str, alias: str) -> str:
    """What the upstream sees for a model alias: the CLI resolves its own aliases."""
    return (
        {"opus": "claude-opus-5-5", "sonnet": "claude-sonnet-5-5"}[alias]
        if kind != "http"
        else alias
    )


def turns(body: dict, *, system: bool = False) -> list[dict]:
    """The conversation as the upstream got it: no cache hints, blocks only, and system entries
    only if ``system`` (the CLI adds empty ones of its own)."""
    out = []
    for message in body["messages"]:
        if message["role"] == "system" and not (system and message["content"]):
            continue
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        out.append(
            {
                "role": message["role"],
                "content": [{k: v for k, v in b.items() if k != "cache_control"} for b in content],
            }
        )
    return out


def system_text(body: dict) -> str:
    system = body.get("system") or ""
    return system if isinstance(system, str) else "\n".join(block["text"] for block in system)
