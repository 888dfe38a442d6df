"""An incremental decoder for newline-delimited JSON, as the ``claude`` CLI writes it."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["NDJSONDecoder", "NDJSONError"]


class NDJSONError(ValueError):
    """A line that is not a JSON object; carries the start of the line for the error message."""

    def __init__(self, line: bytes) -> None:
        super().__init__(line[:200].decode("utf-8", "replace"))
        self.line = line


class NDJSONDecoder:
    """Bytes in any chunking (lines of several MB, UTF-8 split across reads) in, objects out.

    Only complete lines are decoded, so a multi-byte character split between two reads is
    joined before decoding. ``max_line`` bounds the memory a runaway line may take.
    """

    def __init__(self, max_line: int = 256 * 1024 * 1024) -> None:
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._max_line = max_line

    def decode(self, chunk: bytes) -> list[dict[str, Any]]:
        if b"\n" not in chunk:
            self._hold(chunk)
            return []
        first, *middle, rest = chunk.split(b"\n")
        lines = [b"".join((*self._pending, first)), *middle]
        self._pending, self._pending_size = [], 0
        self._hold(rest)
        return [obj for obj in map(_parse, lines) if obj is not None]

    def flush(self) -> list[dict[str, Any]]:
        """The last line, when the stream ended without a newline after it."""
        line = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        parsed = _parse(line)
        return [] if parsed is None else [parsed]

    def _hold(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > self._max_line:
            raise NDJSONError(b"".join(self._pending)[:200] + b"... (line over the size limit)")


def _parse(line: bytes) -> dict[str, Any] | None:
    line = line.strip()
    if not line:
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        raise NDJSONError(line) from None
    if not isinstance(obj, dict):
        raise NDJSONError(line)
    return obj
