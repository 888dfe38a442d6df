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

from sanic.response import HTTPResponse

from ...config import RouteConfig
from ...flow.answers import json_response
from ...flow.body import read_json_body
from ...flow.endpoints import Call, Endpoint
from . import bash, file_read

__all__ = ["ENDPOINTS", "TOOL_ENDPOINTS", "ToolEndpoint"]


@dataclass(frozen=True, slots=True)
class ToolEndpoint:
    run: Callable[[Mapping[str, Any], Any, Path], Awaitable[dict[str, Any]]]
    input_schema: dict[str, Any]
    #: What it does, for MCP clients (a route's own description wins).
    description: str
    #: What ``gateway check`` refuses in a route's ``tool:`` options.
    option_problems: Callable[[Mapping[str, Any]], list[tuple[tuple[Any, ...], str]]] = (
        lambda options: []
    )


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
        bash.check_options,
    ),
}


async def serve_tool(call: Call) -> HTTPResponse:
    route = call.route
    assert route.config is not None
    tool = TOOL_ENDPOINTS[route.endpoint.name]
    body = read_json_body(call.request)
    return json_response(await tool.run(route.config.tool, body, call.runtime.config.base_dir))


def _option_problems(
    tool: ToolEndpoint,
) -> Callable[[RouteConfig], list[tuple[tuple[Any, ...], str]]]:
    def problems(route: RouteConfig) -> list[tuple[tuple[Any, ...], str]]:
        return [(("tool", *path), message) for path, message in tool.option_problems(route.tool)]

    return problems


#: The tool endpoints as the request path serves them.
ENDPOINTS = tuple(
    Endpoint(name, serve_tool, check=_option_problems(tool))
    for name, tool in TOOL_ENDPOINTS.items()
)
