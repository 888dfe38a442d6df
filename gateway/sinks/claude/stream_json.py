"""Claude Code's stream-json messages as IR events, shared by the CLI and SDK sinks.

With ``--include-partial-messages`` every upstream SSE event arrives wrapped as
``{"type": "stream_event", "event": {...}}``, so tokens are relayed as they are generated. The
``result`` line that ends a run carries the totals (usage over every turn, cost, errors).

Two shapes of answer:

- a plain completion (``agent=False``) is exactly one upstream message; once it has stopped
  nothing after it is relayed (the CLI's own continuation after ``max_tokens``, its permission
  denial after a client tool call);
- an agent run (``agent=True``) may span several upstream messages while the CLI runs its own
  tools; the client sees them as one message: text and thinking of every turn, renumbered, with
  the CLI's internal tool calls left out.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from ... import ir
from ...errors import (
    GatewayError,
    InvalidRequest,
    SinkUnavailable,
    UpstreamError,
    UsageLimited,
    error_for_upstream_status,
)
from ...wire.anthropic import usage_to_ir
from ...wire.anthropic_stream import EventDecoder, block_stream_events
from .login import LOGIN_HINT

__all__ = ["StreamJsonTranslator", "result_error", "run_events"]

# After these the plain CLI keeps going on its own (continuations, retries, denials): the
# answer the client asked for is complete at the message's end.
_FINAL_WITHOUT_RESULT = frozenset({"tool_use", "max_tokens", "refusal"})

_API_ERROR_STATUS = re.compile(r"API Error: (\d{3})\b|Request rejected \((\d{3})\)")

_LOGIN_HINT = f"The claude CLI on the gateway host has no valid login: {LOGIN_HINT}, then retry."


def result_error(
    result: dict[str, Any], rate_limit: Mapping[str, Any] | None = None
) -> GatewayError:
    """The client-facing error for a ``result`` line with ``is_error: true``; ``rate_limit``
    is the run's last ``rate_limit_info`` (it names the reset of a used-up window)."""
    text = str(result.get("result") or "; ".join(map(str, result.get("errors") or [])) or "")
    if result.get("api_error") == "usage_limit_reached":
        # A subscription window is used up ("You've hit your 5-hour limit · resets 11:42pm").
        reset = (rate_limit or {}).get("resetsAt")
        resets_at = float(reset) if isinstance(reset, int | float) else None
        return UsageLimited(f"claude: {text}", resets_at=resets_at, now=time.time())
    status = result.get("api_error_status")
    if status is None and result.get("subtype") == "success":
        # Older SDKs drop api_error_status; the CLI's text still names it ("API Error: 529 ...").
        found = _API_ERROR_STATUS.search(text)
        status = int(found.group(1) or found.group(2)) if found else None
    if status == 401 or "/login" in text or "Not logged in" in text:
        return SinkUnavailable(f"{_LOGIN_HINT} (claude said: {text})")
    if "Prompt is too long" in text and status in (None, 400, 413):
        # The CLI's own check and the API's refusal (a 400) say the same; clients that trim
        # their history look for the code.
        return InvalidRequest(
            f"The conversation is longer than the model's context window ({text})",
            code="context_length_exceeded",
        )
    if isinstance(status, int):
        return error_for_upstream_status(status, text)
    subtype = result.get("subtype", "error")
    return UpstreamError(f"claude ended with {subtype}: {text or 'no details'}")


class StreamJsonTranslator:
    def __init__(
        self,
        *,
        agent: bool = False,
        on_rate_limit: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.agent = agent
        #: Sees each ``rate_limit_info`` the CLI reports (a subscription login only).
        self.on_rate_limit = on_rate_limit
        self.rate_limit: Mapping[str, Any] | None = None
        self.done = False  # nothing more will be relayed; the process may be stopped
        self._events = EventDecoder()
        self._started = False
        self._message_ended = False  # plain: the one message has stopped
        self._held: ir.MessageDelta | None = None
        self._index_map: dict[int, int | None] = {}  # upstream block index -> ours (None: hidden)
        self._next_index = 0
        self._streamed: set[Any] = set()  # ids of the messages that came as stream events
        self._whole: dict[Any, int] = {}  # messages that came whole: their blocks so far

    def feed(self, message: dict[str, Any]) -> list[ir.Event]:
        kind = message.get("type")
        if kind == "stream_event" and not self.done:
            event = message.get("event") or {}
            if event.get("type") == "message_start":
                self._streamed.add((event.get("message") or {}).get("id"))
            return self._stream_event(event)
        if kind == "assistant" and not self.done:
            whole = message.get("message") or {}
            key = whole.get("id")  # None from the predecessor SDK, which cannot tell them apart
            if key and key not in self._streamed and whole.get("model") != "<synthetic>":
                return self._unstreamed(whole)
        if kind == "result":
            return self._result(message)
        if kind == "rate_limit_event":
            info = message.get("rate_limit_info")
            if isinstance(info, Mapping):
                self.rate_limit = info
                if self.on_rate_limit is not None:
                    self.on_rate_limit(info)
        return []

    def _unstreamed(self, message: dict[str, Any]) -> list[ir.Event]:
        """An upstream message that came whole, with no stream events: CLI 2.1.330 asks
        again without streaming when the upstream's stream breaks off before its first event.
        It goes on as the stream would have brought it (the CLI's own error notes, "<synthetic>"
        messages, are not answers and are left out)."""
        key = message.get("id")
        events: list[dict[str, Any]] = []
        if key not in self._whole:
            self._whole[key] = 0
            start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
            events.append({"type": "message_start", "message": start})
        blocks = message.get("content") or []
        events += block_stream_events(blocks, self._whole[key])
        self._whole[key] += len(blocks)
        if message.get("stop_reason"):
            delta = {k: message.get(k) for k in ("stop_reason", "stop_sequence")}
            events.append({"type": "message_delta", "delta": delta, "usage": message.get("usage")})
            events.append({"type": "message_stop"})
        return [item for event in events for item in self._stream_event(event)]

    def _stream_event(self, event: dict[str, Any]) -> list[ir.Event]:
        if self._message_ended and not self.agent:
            return []
        out: list[ir.Event] = []
        for item in self._events.decode(event):
            match item:
                case ir.MessageStart():
                    self._index_map, self._held = {}, None
                    if not self._started:
                        self._started = True
                        out.append(item)
                case ir.BlockStart(index=index, block=block):
                    hidden = self.agent and isinstance(block, ir.ToolUse)
                    self._index_map[index] = None if hidden else self._next_index
                    if not hidden:
                        self._next_index += 1
                        out.append(ir.BlockStart(self._index_map[index], block))  # type: ignore[arg-type]
                case (
                    ir.TextDelta()
                    | ir.ThinkingDelta()
                    | ir.SignatureDelta()
                    | ir.ToolInputDelta()
                    | ir.BlockStop()
                ):
                    ours = self._index_map.get(item.index)
                    if ours is not None:
                        item.index = ours
                        out.append(item)
                case ir.MessageDelta():
                    self._held = item
                case ir.MessageStop():
                    if self._held is None:
                        # No message_delta: the upstream's stream broke off, and CLI 2.1.330
                        # closes it with a message_stop of its own, then answers again without
                        # streaming; what was relayed is cut short and cannot be continued.
                        raise UpstreamError(
                            "The upstream's answer broke off midway (its stream was "
                            "interrupted); retry the request"
                        )
                    out += self._message_stop()
        return out

    def _message_stop(self) -> list[ir.Event]:
        if self.agent:
            return []  # more turns may follow; the result line ends the answer
        self._message_ended = True
        held = self._held  # a message_stop without message_delta was refused before
        assert held is not None
        if held.stop_reason in _FINAL_WITHOUT_RESULT:
            return self._finish(held)
        return []  # the result line follows at once with the totals and the cost

    def _result(self, result: dict[str, Any]) -> list[ir.Event]:
        if self.done:
            return []
        if not self._started:
            if result.get("is_error"):
                raise result_error(result, self.rate_limit)
            raise UpstreamError("claude finished without sending an answer")

        usage = usage_to_ir(result.get("usage"))
        held = self._held or ir.MessageDelta("end_turn")
        if usage.input_tokens or usage.output_tokens:
            held.usage = usage
        held.cost_usd = result.get("total_cost_usd")
        if self.agent:
            if result.get("subtype") == "error_max_turns":
                held.stop_reason = "max_tokens"
            elif result.get("is_error"):
                raise result_error(result, self.rate_limit)
            else:
                held.stop_reason = result.get("stop_reason") or held.stop_reason or "end_turn"
        return self._finish(held)

    def _finish(self, delta: ir.MessageDelta) -> list[ir.Event]:
        self.done = True
        return [delta, ir.MessageStop()]

    def finish(self) -> list[ir.Event]:
        """At the end of the output: the held end of a complete message, or an error."""
        if self.done:
            return []
        if self._message_ended and self._held is not None:
            return self._finish(self._held)
        raise UpstreamError("claude stopped before its answer was complete")


async def run_events(
    messages: AsyncIterator[dict[str, Any]],
    translator: StreamJsonTranslator,
    *,
    acknowledgements: int,
    acknowledge: Callable[[], None],
    deadline: float,
) -> AsyncIterator[ir.Event]:
    """The events of one run, until its answer is complete or its output ends.

    The first ``acknowledgements`` result lines answer replayed turns, not the request: each
    one lets the next stdin line go. Raises TimeoutError once the loop time passes ``deadline``.
    """
    loop = asyncio.get_running_loop()
    while not translator.done:
        try:
            message = await asyncio.wait_for(anext(messages), deadline - loop.time())
        except StopAsyncIteration:
            return
        if acknowledgements and message.get("type") == "result":
            acknowledgements -= 1
            if message.get("is_error"):
                raise result_error(message, translator.rate_limit)
            acknowledge()
            continue
        for event in translator.feed(message):
            yield event
