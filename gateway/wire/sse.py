"""Server-sent events: an incremental decoder and the encoder helpers the dialects share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["SSEDecoder", "SSETooLarge", "ServerSentEvent", "sse", "sse_json"]


class SSETooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"an event of the stream is over {limit // (1024 * 1024)} MiB")


@dataclass(slots=True)
class ServerSentEvent:
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


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
        if b"\n" not in chunk:
            self._pending.append(chunk)
            return []
        *lines, rest = b"".join((*self._pending, chunk)).split(b"\n")
        self._pending = [rest] if rest else []
        events: list[ServerSentEvent] = []
        for raw in lines:
            event = self._line(raw.rstrip(b"\r").decode("utf-8"))
            if event is not None:
                events.append(event)
        self._size = len(rest) + sum(map(len, self._data))
        return events

    def flush(self) -> list[ServerSentEvent]:
        """Ends the stream: a last event without its blank line still counts."""
        events = self.decode(b"\n\n") if self._pending or self._data else []
        self._pending = []
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            if not self._data and self._event is None:
                return None
            event = ServerSentEvent(self._event, "\n".join(self._data))
            self._event, self._data = None, []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


def sse(data: str, event: str | None = None) -> bytes:
    if event is None:
        return f"data: {data}\n\n".encode()
    return f"event: {event}\ndata: {data}\n\n".encode()


def sse_json(payload: Any, event: str | None = None) -> bytes:
    return sse(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), event)
