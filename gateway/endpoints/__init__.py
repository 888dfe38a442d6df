"""Endpoints beside the completions: they register with the request path's endpoint registry
(gateway/flow/endpoints.py) through the built-in plugin; the request path never imports them.

    info.py       GET models, status, health and metrics
    dashboard/    the usage dashboard: page, script, data, login and logout
    mcp/          the custom routes and tool endpoints as MCP tools (Streamable HTTP)
    tools/        the tool endpoints: tool.file_read and tool.bash
"""

from __future__ import annotations

from ..flow.endpoints import Endpoint
from . import tools
from .dashboard import DASHBOARD_ENDPOINTS
from .info import INFO_ENDPOINTS
from .mcp import MCP_ENDPOINT

__all__ = ["builtin_endpoints"]


def builtin_endpoints() -> list[Endpoint]:
    return [*INFO_ENDPOINTS, *DASHBOARD_ENDPOINTS, MCP_ENDPOINT, *tools.ENDPOINTS]
