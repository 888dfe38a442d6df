"""How a conversation reaches Claude Code's upstream as the client's own turns (CLI 2.1.330).

The turns up to the last assistant turn without a tool call go into a session transcript that
the CLI resumes; the rest is replayed on stdin, earlier user turns with ``"shouldQuery": false``
(each acknowledged by a ``result`` line before the next line is written), then the live turn.

System turns (measured, docs/cli-sink.md): the CLI sends a transcript row of type
``attachment`` (a ``queued_command`` whose origin is ``observer-activity``) upstream as a
``{"role": "system"}`` entry, right after the user turn before it; rows at the transcript's end
follow the first user turn read from stdin. Stdin has no way to carry one. A system turn that
cannot be placed so is folded, as a ``<system-reminder>`` text block (the CLI's own form for
notes to the model), into the user turn right before it, or else into the next one; after the
last assistant turn, they make the user turn the model answers.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ... import ir
from ...wire.anthropic import blocks_from_ir

__all__ = ["ReplayLine", "lay_out", "replay_lines", "transcript_lines"]


@dataclass(frozen=True, slots=True)
class ReplayLine:
    """One line for the CLI's stdin."""

    message: dict[str, Any]
    #: The CLI answers this line with a ``result`` of its own (a turn it only records); that
    #: result must arrive before the next line is written, or the CLI reorders the turns.
    acknowledged: bool = False

    @property
    def data(self) -> bytes:
        return (json.dumps(self.message, ensure_ascii=False) + "\n").encode()


def lay_out(messages: list[ir.Message]) -> tuple[list[ir.Message], list[ir.Message]]:
    """(turns for the transcript, turns for stdin), system turns placed or folded.

    The transcript must end with an assistant turn that made no tool call (plus system turns):
    the CLI treats a transcript ending in a user turn or in a tool call as an interrupted
    session and patches it.
    """
    cut = 0
    for index, message in enumerate(messages):
        if message.role == "assistant" and not any(
            isinstance(p, ir.ToolUse) for p in message.content
        ):
            cut = index + 1
    placed = _placeable_system_turns(messages, cut)
    transcript: list[ir.Message] = []
    tail: list[ir.Message] = []
    stdin: list[ir.Message] = []
    pending: list[ir.Content] = []  # folded system turns waiting for the next user turn
    for index, message in enumerate(messages):
        if message.role == "system":
            if index in placed:
                (tail if placed[index] else transcript).append(message)
                continue
            notes = [_note(part) for part in message.content if isinstance(part, ir.Text)]
            turns = stdin or transcript
            if turns and turns[-1].role == "user":  # right after its turn: the order is kept
                turns[-1] = ir.Message("user", [*turns[-1].content, *notes])
            else:
                pending += notes
            continue
        if message.role == "user" and pending:
            message, pending = ir.Message("user", _with_notes(message.content, pending)), []
        (transcript if index < cut else stdin).append(message)
    if pending:  # instructions after the last assistant turn: the model answers them
        stdin.append(ir.Message("user", pending))
    return transcript + tail, stdin


def _with_notes(content: list[ir.Content], notes: list[ir.Content]) -> list[ir.Content]:
    """Notes ahead of a user turn's own content, but after its tool results (the API wants
    those first)."""
    results = 0
    while results < len(content) and isinstance(content[results], ir.ToolResult):
        results += 1
    return [*content[:results], *notes, *content[results:]]


def _placeable_system_turns(messages: list[ir.Message], cut: int) -> dict[int, bool]:
    """Indexes of the system turns the CLI sends in place -> whether they go at the
    transcript's end (those that follow the first user turn replayed on stdin)."""
    placed: dict[int, bool] = {}
    recorded_user = any(m.role == "user" for m in messages[:cut])
    first_replayed_user = next(
        (i for i in range(cut, len(messages)) if messages[i].role == "user"), None
    )
    previous: int | None = None  # the last turn that is not a system turn
    for index, message in enumerate(messages):
        if message.role != "system":
            previous = index
            continue
        after_user = previous is not None and messages[previous].role == "user"
        if index < cut and after_user:
            placed[index] = False
        elif recorded_user and previous == first_replayed_user and after_user:
            placed[index] = True
    return placed


def _note(part: ir.Text) -> ir.Text:
    return ir.Text(f"<system-reminder>\n{part.text}\n</system-reminder>\n")


def transcript_lines(messages: list[ir.Message], session_id: str) -> list[dict[str, Any]]:
    """The session transcript the CLI resumes; system turns become the rows it sends as such."""
    lines, parent = [], None
    timestamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    for message in messages:
        line_id = str(uuid.uuid4())
        line: dict[str, Any] = {"uuid": line_id, "parentUuid": parent, "sessionId": session_id}
        if message.role == "system":
            text = "\n\n".join(p.text for p in message.content if isinstance(p, ir.Text))
            line |= {
                "type": "attachment",
                "attachment": {
                    "type": "queued_command",
                    "prompt": text,
                    "origin": {"kind": "observer-activity"},
                },
                "timestamp": timestamp,
            }
        else:
            line |= {
                "type": message.role,
                "message": {"role": message.role, "content": blocks_from_ir(message.content)},
            }
        lines.append(line)
        parent = line_id
    return lines


def replay_lines(turns: list[ir.Message]) -> list[ReplayLine]:
    lines = []
    for index, message in enumerate(turns):
        line: dict[str, Any] = {
            "type": message.role,
            "message": {"role": message.role, "content": blocks_from_ir(message.content)},
            "parent_tool_use_id": None,
            "session_id": "",
        }
        if message.role == "assistant":
            lines.append(ReplayLine(line))
            continue
        # Without --bare, keeps the CLI's environment note after the last turn rather than
        # between replayed ones.
        line["client_composed"] = True
        live = index == len(turns) - 1
        if not live:
            line["shouldQuery"] = False
        lines.append(ReplayLine(line, acknowledged=not live))
    return lines
