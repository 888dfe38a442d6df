"""Server-sent events: an incremental decoder and the encoder helpers the dialects share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .json_codec import dumps, loads

__all__ = ["SSEDecoder", "SSETooLarge", "ServerSentEvent", "sse", "sse_json"]


class SSETooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"an event of the stream is over {limit // (1024 * 1024)} MiB")


@dataclass(slots=True)
class ServerSentEvent:
    event: str | None
    data: str

    def json(self) -> Any:
        return loads(self.data)


class SSEDecoder:
    """Turns arbitrary chunks of an SSE byte stream into events.

    Chunks may split lines, events and UTF-8 characters anywhere: bytes are buffered until a
    whole line is present, and a line is only decoded once it is complete. ``max_event`` bounds
    the memory a runaway line or event may take; past it, :class:`SSETooLarge` is raised.
    """

    def __init__(self, max_event: int = 64 * 1024 * 1024) -> None:
        self._pending: list[bytes] = []  # the start of a line not yet complete
        self._event: str | None = None
        self._data: list[str] = []
        self._size = 0  # bytes held for the event being read, its unfinished line included
        self._max_event = max_event

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
        self._size += len(chunk)
        if self._size > self._max_event:
            raise SSETooLarge(self._max_event)
        end = chunk.rfind(b"\n")
        if end < 0:
            self._pending.append(chunk)
            return []
        complete = chunk[:end]
        if self._pending:
            complete = b"".join((*self._pending, complete))
        rest = chunk[end + 1 :]
        self._pending = [rest] if rest else []
        # Whole lines only, so no character is split: one decode for all of them.
        text = complete.decode("utf-8")
        lines = text.split("\n")
        if "\r" in text:
            lines = [line.rstrip("\r") for line in lines]
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data or self._event is not None:
                    events.append(ServerSentEvent(self._event, "\n".join(data)))
                    self._event, data = None, []
            elif line.startswith("data:"):  # the common case first
                data.append(line[6:] if line.startswith(" ", 5) else line[5:])
            elif line[0] != ":":
                name, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if name == "data":
                    data.append(value)
                elif name == "event":
                    self._event = value
        self._data = data
        self._size = len(rest) + sum(map(len, data)) if data else len(rest)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """Ends the stream: a last event without its blank line still counts."""
        events = self.decode(b"\n\n") if self._pending or self._data else []
        self._pending = []
        return events


def sse(data: str, event: str | None = None) -> bytes:
    if event is None:
        return f"data: {data}\n\n".encode()
    return f"event: {event}\ndata: {data}\n\n".encode()


def sse_json(payload: Any, event: str | None = None) -> bytes:
    if event is None:
        return b"data: " + dumps(payload) + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + dumps(payload) + b"\n\n"
