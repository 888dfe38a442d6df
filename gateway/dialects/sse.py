"""Server-sent events: an incremental decoder and the encoder helpers the dialects share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["SSEDecoder", "ServerSentEvent", "sse", "sse_json"]


@dataclass(slots=True)
class ServerSentEvent:
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SSEDecoder:
    """Turns arbitrary chunks of an SSE byte stream into events.

    Chunks may split lines, events and UTF-8 characters anywhere: bytes are buffered until a
    whole line is present, and a line is only decoded once it is complete.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
        self._buffer += chunk
        if b"\n" not in chunk:
            return []
        *lines, self._buffer = self._buffer.split(b"\n")
        events: list[ServerSentEvent] = []
        for raw in lines:
            event = self._line(raw.rstrip(b"\r").decode("utf-8"))
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """Ends the stream: a last event without its blank line still counts."""
        events = self.decode(b"\n\n") if self._buffer or self._data else []
        self._buffer = b""
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
