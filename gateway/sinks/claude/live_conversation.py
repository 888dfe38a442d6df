"""Whether a request is the next turn of a conversation a live process holds (pure).

A process kept after its answer holds the conversation as the upstream received it, plus that
answer. A request continues it when its own turns, as they would reach the upstream on a cold
run, are exactly those plus one: a user turn, or the results of the tool calls the process
holds open. Everything else that shapes the answer (caller, model, system prompt, tools,
parameters) is named by the first digest of the chain, so it must be equal too.

A conversation is a chain of digests: ``chain[0]`` names that setup, ``chain[i]`` the setup and
the first ``i`` turns. The chain of a request and the chain a process holds meet exactly when
the request continues it; a request that meets a process's chain elsewhere tells the sink that
the process is behind or ahead of its client (the client went on elsewhere, or went back).

Tool results reach the held call as an MCP result, which the CLI turns into the tool_result
block itself. Measured with CLI 2.1.330 against the mock (docs/cli-sink.md), it gives the block
a cold run sends for text and image results; not for an error result (its content becomes a
string), an empty or blank one (the CLI writes a note of its own), nor one of ~50,000
characters or more (replaced by a "saved to file" notice): those go the cold path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ... import ir
from ...wire.anthropic import blocks_from_ir
from .client_tools import declare_client_tools
from .conversation import ReplayLine, lay_out, replay_lines

__all__ = [
    "CARRIED_RESULT_CHARS",
    "Continuation",
    "chain_of",
    "extend",
    "next_turn",
    "setup_digest",
    "upstream_turns",
]

#: The text a held call's result may carry: the CLI replaced 50,100 characters by a notice and
#: carried 49,900 unchanged (measured in characters, not bytes); the margin covers the block
#: structure it may count.
CARRIED_RESULT_CHARS = 40_000


@dataclass(frozen=True, slots=True)
class Continuation:
    """What a live process is given to answer the request's last turn."""

    kind: Literal["user", "results"]
    #: ``user``: the line for its stdin.
    line: ReplayLine | None = None
    #: ``results``: tool_use id -> the MCP ``tools/call`` result, in the turn's order.
    results: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def call_ids(self) -> tuple[str, ...]:
        return tuple(call_id for call_id, _ in self.results)


def setup_digest(
    caller: str, model: str, system: str, tools: Sequence[ir.Tool], environment: dict[str, str]
) -> str:
    """Names everything but the turns that shapes the upstream request: ``environment`` is the
    run's request environment (parameters, effort, thinking: run_plan.request_environment)."""
    declared = declare_client_tools(list(tools)) if tools else None
    return _digest(json.dumps([caller, model, system, declared, environment], sort_keys=True))


def upstream_turns(messages: list[ir.Message]) -> list[ir.Message]:
    """The turns in the order and form a cold run sends them upstream: system turns the CLI
    cannot place are folded into user turns (conversation.lay_out); placed ones keep their
    place (those written at the transcript's end follow the first turn replayed on stdin)."""
    transcript, stdin = lay_out(messages)
    moved = 0
    while moved < len(transcript) and transcript[-1 - moved].role == "system":
        moved += 1
    if not moved:
        return transcript + stdin
    body, tail = transcript[: len(transcript) - moved], transcript[len(transcript) - moved :]
    first_user = next(i for i, message in enumerate(stdin) if message.role == "user")
    return body + stdin[: first_user + 1] + tail + stdin[first_user + 1 :]


def chain_of(setup: str, turns: list[ir.Message]) -> tuple[str, ...]:
    return extend((setup,), turns)


def extend(chain: tuple[str, ...], turns: list[ir.Message]) -> tuple[str, ...]:
    digests = list(chain)
    for turn in turns:
        block = json.dumps(
            {"role": turn.role, "content": blocks_from_ir(turn.content)},
            sort_keys=True, ensure_ascii=False, separators=(",", ":"),
        )  # fmt: skip
        digests.append(_digest(digests[-1] + block))
    return tuple(digests)


def next_turn(turn: ir.Message) -> Continuation | str:
    """How a live process would be given ``turn`` (the request's last), or why it cannot be
    given exactly as a cold run would send it."""
    if turn.role != "user":
        return "the last turn is not the user's"
    results = [part for part in turn.content if isinstance(part, ir.ToolResult)]
    if not results:
        return Continuation("user", line=replay_lines([turn])[0])
    if len(results) != len(turn.content):
        return "tool results with other content in the same turn"
    carried = []
    for result in results:
        answer = _mcp_result(result)
        if isinstance(answer, str):
            return answer
        carried.append((result.tool_use_id, answer))
    return Continuation("results", results=tuple(carried))


def _mcp_result(result: ir.ToolResult) -> dict[str, Any] | str:
    if result.is_error:
        return "an error tool result (the CLI would send its content as a string)"
    if not result.content:
        return "an empty tool result (the CLI would send a note of its own)"
    content: list[dict[str, Any]] = []
    characters = 0
    for part in result.content:
        if isinstance(part, ir.Text) and part.text.strip():
            content.append({"type": "text", "text": part.text})
            characters += len(part.text)
        elif isinstance(part, ir.Image) and part.data and part.media_type:
            content.append({"type": "image", "data": part.data, "mimeType": part.media_type})
        else:
            return "a tool result with blank text, a document or an image by URL"
    if characters > CARRIED_RESULT_CHARS:
        return f"a tool result over {CARRIED_RESULT_CHARS:,} characters (the CLI would save it)"
    return {"content": content}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
