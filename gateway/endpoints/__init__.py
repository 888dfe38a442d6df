"""Endpoints beside the completions: they register with the request path's endpoint registry
(gateway/flow/endpoints.py) through the built-in plugin; the request path never imports them.

    info.py       GET models, status, health and metrics; Claude Code's start-up probe
    responses.py  stored OpenAI Responses read back and deleted (/v1/responses/{id})
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
from .responses import STORED_RESPONSES_ENDPOINT

__all__ = ["builtin_endpoints"]


def builtin_endpoints() -> list[Endpoint]:
    return [
        *INFO_ENDPOINTS,
        STORED_RESPONSES_ENDPOINT,
        *DASHBOARD_ENDPOINTS,
        MCP_ENDPOINT,
        *tools.ENDPOINTS,
    ]
