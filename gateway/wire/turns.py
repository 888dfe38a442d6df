"""Turn order rules that every API shares."""

from __future__ import annotations

from .. import ir

__all__ = ["append_turn", "results_follow_calls"]


def append_turn(turns: list[ir.Message], role: str, content: list[ir.Content]) -> None:
    """Consecutive turns of one role become one turn (tool results must share a user turn)."""
    if turns and turns[-1].role == role:
        turns[-1].content.extend(content)
    else:
        turns.append(ir.Message(role, content))  # type: ignore[arg-type]


def results_follow_calls(messages: list[ir.Message]) -> list[ir.Message]:
    """``messages`` with each system turn that sits between a tool call and its results moved
    after those results: both APIs want the results right after the call."""
    out: list[ir.Message] = []
    held: list[ir.Message] = []
    for message in messages:
        if message.role == "system" and out and _calls_tools(out[-1]):
            held.append(message)
            continue
        out.append(message)
        if held and not _calls_tools(message):
            out += held
            held = []
    return out + held


def _calls_tools(message: ir.Message) -> bool:
    return message.role == "assistant" and any(isinstance(p, ir.ToolUse) for p in message.content)
