"""The effort Claude Code sends upstream for a model, which is not always the one asked for.

Measured with CLI 2.1.330 against the mock upstream (CLAUDE_CODE_EFFORT_LEVEL set, thinking
off), and read in its source: it sends no ``output_config.effort`` at all for the Claude 3
models, Opus 4 and 4.1, Sonnet 4 and 4.5 and Haiku 4.5 (dated ids included), sends ``high``
for ``xhigh`` to Opus 4.5, Opus 4.6 and Sonnet 4.6, and ``high`` for ``max`` to Opus 4.5;
other models and the aliases get what was asked. No variable changes this
(``CLAUDE_CODE_ALWAYS_ENABLE_EFFORT`` is read after these checks). The sinks refuse what would
be dropped or lowered instead of answering as if it had been applied;
tests/sinks/claude/test_claude_effort.py runs the binary to keep this table true.
"""

from __future__ import annotations

import re

from ... import ir

__all__ = ["effort_sent"]

_NONE = frozenset({
    "claude-opus-4", "claude-opus-4-0", "claude-opus-4-1", "claude-sonnet-4", "claude-sonnet-4-0",
    "claude-sonnet-4-5", "claude-haiku-4-5",
})  # fmt: skip
_NO_XHIGH = _NONE | {"claude-opus-4-5", "claude-opus-4-6", "claude-sonnet-4-6"}
_NO_MAX = _NONE | {"claude-opus-4-5"}
# A family and version, without a date: "claude-sonnet-4-5" of "claude-sonnet-4-5-20250929".
_NAME = re.compile(r"claude-[a-z]+-\d+(?:-\d(?!\d))?")


def effort_sent(model: str, effort: ir.Effort) -> ir.Effort | None:
    """What the CLI sends for ``effort`` to ``model``: the same, a lower one, or none."""
    if "claude-3-" in model:
        return None
    found = _NAME.search(model)
    name = found.group(0) if found else ""
    if name in _NONE:
        return None
    if (effort == "xhigh" and name in _NO_XHIGH) or (effort == "max" and name in _NO_MAX):
        return "high"
    return effort
