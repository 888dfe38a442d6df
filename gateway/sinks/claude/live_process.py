"""One ``claude`` process that keeps its conversation between requests (CLI 2.1.330, measured
against the mock: docs/cli-sink.md, "Live conversations").

A process started with ``--input-format stream-json`` keeps its conversation in memory, also with
``--no-session-persistence``: each user line on stdin is a new query whose upstream request
carries the earlier turns and answers. A client tool call is held open: the tools are declared
as an in-process MCP server (``--allowedTools mcp__<server>``), so the CLI asks the sink to run
the call (a ``mcp_message`` control request, which arrives before the message's end) and waits;
answered, it sends the ``tool_result`` upstream and goes on with the same query.

Between requests this object owns the process: its stdout (read through :attr:`messages`,
which answers the tool calls whose results it has been given and keeps the others held), the
conversation it holds (:attr:`chain`), and its run directory. The totals of a ``result`` line
run over the whole query (usage) or the whole process (cost), so :meth:`account` turns them
into the answer's own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from ... import ir
from .child_process import ChildProcess
from .conversation import ReplayLine
from .live_conversation import Continuation
from .run_dirs import RunDirectory
from .settings import LIVE_MAX_TURNS

__all__ = ["LiveProcess", "calendar_dates"]

log = logging.getLogger("gateway.sinks")

#: What the CLI prints around an answer; anything else (a compaction, a note of its own) may
#: mean that its history is no longer the client's, so the process is not kept.
_USUAL_SYSTEM = frozenset({"init", "status", "ui_invalidate"})
_USUAL_TYPES = frozenset(
    {"stream_event", "assistant", "user", "result", "system", "control_response",
     "rate_limit_event"}
)  # fmt: skip
#: Stop reasons after which the CLI keeps going on its own (continuations, denials): a
#: process that stopped there holds more than the client saw.
_KEPT_AFTER = frozenset({"end_turn", "stop_sequence", "tool_use"})


def calendar_dates() -> tuple[str, str]:
    """Today, local and UTC: the CLI adds a note to the history when either changes."""
    now = time.time()
    day = "%Y-%m-%d"
    return time.strftime(day, time.localtime(now)), time.strftime(day, time.gmtime(now))


class LiveProcess:
    def __init__(self, child: ChildProcess, *, setup: str, caller: str, hint: str | None) -> None:
        self.child = child
        self.setup = setup
        self.caller = caller
        self.hint = hint
        self.run: RunDirectory | None = None  # its directory, once it is kept
        self.chain: tuple[str, ...] = ()  # the conversation it holds (live_conversation)
        #: The tool calls its last answer made, in order: the next request must bring their
        #: results. ``held``: those the CLI has asked for (tool_use id -> the request to answer).
        self.calls: tuple[str, ...] = ()
        self.held: dict[str, tuple[str, Any]] = {}
        self._results: dict[str, dict[str, Any]] = {}
        self.surprise: str | None = None  # what the CLI did that rules out keeping it
        self.started = self.last_used = time.monotonic()
        self.dates = calendar_dates()
        self.answers = 0
        self._query_turns = 0
        self._query_usage = ir.Usage()  # what earlier answers of the open query reported
        self._cost_total = 0.0
        self.messages: AsyncGenerator[dict[str, Any], None] = self._read(child.messages())

    @property
    def pid(self) -> int:
        return self.child.pid

    def alive(self) -> bool:
        return self.child.alive()

    def give(self, turn: Continuation) -> None:
        """Sends the request's last turn: a user line, or the results of the held calls (a call
        the CLI has not asked for yet is answered when it does)."""
        self.last_used = time.monotonic()
        if turn.kind == "user":
            assert turn.line is not None
            self.child.feed([turn.line], close=False)
            return
        self._results = dict(turn.results)
        answers = [self._answer(*self.held.pop(call_id), self._results.pop(call_id))
                   for call_id in turn.call_ids if call_id in self.held]  # fmt: skip
        self.calls = ()
        self.child.feed(answers, close=False)

    def account(self, delta: ir.MessageDelta) -> None:
        """Makes the totals of a ``result`` line (``cost_usd`` set) the answer's own; an answer
        that ended without one (a tool call held open) reports its message's usage."""
        if delta.cost_usd is None:
            self._query_usage = _plus(self._query_usage, delta.usage)
            return
        delta.usage = _minus(delta.usage, self._query_usage)
        # The cost is the process's total so far: each answer gets what it added. An answer
        # after a held call also carries the call's message, which had no result line.
        total, delta.cost_usd = delta.cost_usd, max(0.0, delta.cost_usd - self._cost_total)
        self._cost_total = total
        self._query_usage = ir.Usage()

    def unkept_because(self, answer: ir.Response) -> str | None:
        """Why the process cannot hold ``answer`` as the next request expects (a short reason,
        counted on /status and /metrics; the details go to the debug log), or None."""
        self.answers += 1
        self._query_turns += 1
        why, detail = self._unkept(answer)
        if why is not None:
            log.debug("live process %d not kept: %s", self.pid, detail or why)
        return why

    def _unkept(self, answer: ir.Response) -> tuple[str | None, str | None]:
        if self.surprise is not None:
            return "unusual", self.surprise
        if not self.alive():
            return "died", None
        if answer.stop_reason not in _KEPT_AFTER:
            return "stop_reason", f"the answer stopped at {answer.stop_reason}: the CLI goes on"
        if any(isinstance(part, ir.Thinking) for part in answer.content):
            # A cold run drops thinking blocks of earlier turns; the process would send them.
            return "thinking", None
        if answer.stop_reason != "tool_use":
            self._query_turns = 0
            return None, None
        if self._query_turns >= LIVE_MAX_TURNS - 1:
            return "turn_limit", None
        self.calls = tuple(p.id for p in answer.content if isinstance(p, ir.ToolUse))
        if not self.calls or self.calls[0] not in self.held:
            # Measured: the first call is asked for before the message ends; the others once
            # the one before is answered.
            return "call_not_asked", None
        return None, None

    async def end(self) -> None:
        """Ends the process, closes its output and removes its directory."""
        await self.child.stop()
        with contextlib.suppress(RuntimeError):  # a turn still reading it closes it itself
            await self.messages.aclose()
        if self.run is not None:
            await self.run.remove()

    async def _read(
        self, source: AsyncGenerator[dict[str, Any], None]
    ) -> AsyncGenerator[dict[str, Any], None]:
        try:
            async for message in source:
                kind = message.get("type")
                if kind == "control_request":
                    self._on_request(message)
                    continue
                if kind not in _USUAL_TYPES:
                    self.surprise = f"the CLI printed a {kind!r} line"
                elif kind == "system" and message.get("subtype") not in _USUAL_SYSTEM:
                    self.surprise = f"the CLI reported {message.get('subtype')!r}"
                yield message
        finally:
            await source.aclose()

    def _on_request(self, message: dict[str, Any]) -> None:
        request = message.get("request") or {}
        mcp = request.get("message") or {}
        params = mcp.get("params") or {}
        call_id = (params.get("_meta") or {}).get("claudecode/toolUseId")
        if request.get("subtype") != "mcp_message" or mcp.get("method") != "tools/call":
            self.surprise = f"the CLI asked for {request.get('subtype')!r}"
            self.child.feed([_refusal(message.get("request_id"), mcp.get("id"))], close=False)
        elif call_id in self._results:
            result = self._results.pop(call_id)
            self.child.feed([self._answer(message.get("request_id"), mcp.get("id"), result)],
                            close=False)  # fmt: skip
        else:
            self.held[str(call_id)] = (message.get("request_id"), mcp.get("id"))

    @staticmethod
    def _answer(request_id: Any, call_id: Any, result: dict[str, Any]) -> ReplayLine:
        return ReplayLine({
            "type": "control_response",
            "response": {
                "subtype": "success",
                "request_id": request_id,
                "response": {"mcp_response": {"jsonrpc": "2.0", "id": call_id, "result": result}},
            },
        })  # fmt: skip


def _refusal(request_id: Any, call_id: Any) -> ReplayLine:
    error = {"jsonrpc": "2.0", "id": call_id, "error": {"code": -32601, "message": "not offered"}}
    return ReplayLine({
        "type": "control_response",
        "response": {"subtype": "success", "request_id": request_id,
                     "response": {"mcp_response": error}},
    })  # fmt: skip


def _plus(a: ir.Usage, b: ir.Usage) -> ir.Usage:
    return ir.Usage(*(getattr(a, f) + getattr(b, f) for f in _FIELDS))


def _minus(a: ir.Usage, b: ir.Usage) -> ir.Usage:
    return ir.Usage(*(max(0, getattr(a, f) - getattr(b, f)) for f in _FIELDS))


_FIELDS = tuple(f.name for f in dataclasses.fields(ir.Usage))
