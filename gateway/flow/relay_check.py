"""Is a relayed upstream answer whole and well formed? The relay sends the bytes on as they came
either way (that is the passthrough's promise); a malformed answer is named on the exchange
(error kind ``malformed_upstream_answer``: the access log, the ledger and /metrics count it) and
logged, so that an upstream answering 200 with something a client cannot read is seen.

Malformed, for an answer of status below 400:

- a whole answer whose body is not a JSON object;
- a stream with a ``data:`` line that is not a JSON object (nor OpenAI's ``[DONE]``);
- a stream that ends without its end: Anthropic's ``message_stop`` (or an ``error`` event),
  OpenAI's ``data: [DONE]``; or in the middle of a line.

No JSON is parsed on the way: a ``data:`` line is judged by its shape, ``{`` to ``}``.
"""

from __future__ import annotations

import re

__all__ = ["MALFORMED", "StreamShape"]

MALFORMED = "malformed_upstream_answer"

# A data line's shape. The pattern starts with a newline and the line's first word, so that the
# engine looks for it with a fast search instead of trying every position (``^`` in MULTILINE
# mode cost twice as much); the first line of a read is matched on its own.
_DATA_SHAPE = rb" ?(?:\{[^\n]*\}|\[DONE\])\r?\n"  # what follows "data:"
_BAD_DATA = re.compile(rb"\ndata:(?!" + _DATA_SHAPE + rb")")
_FIRST_GOOD_DATA = re.compile(rb"data:" + _DATA_SHAPE)
# The last event of a whole stream, looked for in the last lines it sent.
_ENDS = {
    True: (re.compile(rb"(?:^|\n)event: ?(?:message_stop|error)\r?\n"), "event: message_stop"),
    False: (re.compile(rb"(?:^|\n)data: ?\[DONE\]\r?\n"), "data: [DONE]"),
}
_LAST_LINES = 256  # bytes: the end's event is ~50


class StreamShape:
    """What a relayed SSE stream's whole lines showed of its shape, read by :meth:`see`.

    Per read: one search for a data line of the wrong shape, and the stream's last lines kept
    for :meth:`verdict` to look for its end. Measured with bench/relay_check.py.
    """

    __slots__ = ("_end", "_last", "_name", "problem")

    def __init__(self, *, anthropic: bool) -> None:
        self._end, self._name = _ENDS[anthropic]
        self._last = b""  # the stream's last whole lines, up to _LAST_LINES bytes
        self.problem: str | None = None

    def see(self, data: bytes, end: int) -> None:
        """Reads the whole lines of ``data``: its bytes up to ``end`` (just after a newline;
        ``data`` starts at the start of a line)."""
        if end == 0:
            return
        if end >= _LAST_LINES:
            self._last = data[end - _LAST_LINES : end]
        else:
            self._last = (self._last + data[:end])[-_LAST_LINES:]
        if self.problem is not None:
            return
        if data.startswith(b"data:") and not _FIRST_GOOD_DATA.match(data, 0, end):
            start: int | None = 0
        else:
            bad = _BAD_DATA.search(data, 0, end)
            start = None if bad is None else bad.start() + 1  # after its newline
        if start is not None:
            line = data[start : data.find(b"\n", start, end)]
            self.problem = f"a data: line that is not a JSON object ({_shown(line)})"

    def verdict(self, rest: bytes) -> str | None:
        """At the stream's end, ``rest`` being what followed its last newline: what was wrong
        with it, or None."""
        if self.problem is None and rest.strip():
            self.problem = f"it ended in the middle of a line ({_shown(rest)})"
        if self.problem is None and not self._end.search(self._last):
            self.problem = f"it ended without {self._name}"
        return self.problem


def _shown(line: bytes) -> str:
    text = line[:60].decode("utf-8", "replace")
    return repr(text + ("..." if len(line) > 60 else ""))
