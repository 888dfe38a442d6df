"""The tool endpoints (``dialect: tool.file_read`` and ``tool.bash``), off unless a route of
routes.yaml names them; docs/tools.md has the security model.

Each takes the route's ``tool:`` options, the JSON body and the directory of routes.yaml, and
returns the JSON answer or raises a GatewayError (answered in the custom routes' error shape).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import bash, file_read

__all__ = ["TOOL_ENDPOINTS", "ToolEndpoint"]


@dataclass(frozen=True, slots=True)
class ToolEndpoint:
    run: Callable[[Mapping[str, Any], Any, Path], Awaitable[dict[str, Any]]]
    input_schema: dict[str, Any]
    #: What it does, for MCP clients (a route's own description wins).
    description: str


TOOL_ENDPOINTS: dict[str, ToolEndpoint] = {
    "tool.file_read": ToolEndpoint(
        file_read.file_read,
        file_read.INPUT_SCHEMA,
        "Read a UTF-8 text file (or some of its lines) inside the allowed directories.",
    ),
    "tool.bash": ToolEndpoint(
        bash.bash,
        bash.INPUT_SCHEMA,
        "Run one allowed program with arguments (no shell) in an allowed directory; answers "
        "its exit code, stdout and stderr.",
    ),
}
