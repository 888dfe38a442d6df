"""Starting, serving and stopping the app's MCP service (gateway/endpoints/mcp/), loaded lazily.

Importing the ``mcp`` package takes ~0.6 s (measured here), so a gateway without an MCP route
never loads it; one with it loads it as the server starts, before it takes requests. (Not in a
thread: ``claude_agent_sdk`` imports ``mcp`` too, and two threads importing a package whose
modules import each other can see it half initialized.)
"""

from __future__ import annotations

import importlib
from typing import Any

from ...config import Config
from ...dialects import JSONRPC
from ...flow.endpoints import Call, Endpoint

__all__ = ["MCP_ENDPOINT", "has_mcp_route", "start_mcp", "stop_mcp"]


def has_mcp_route(config: Config) -> bool:
    return any(route.dialect == "mcp" for route in config.routes)


async def start_mcp(app: Any) -> Any:
    """The app's MCP service, started once (at start-up, or when a reload adds the route)."""
    async with app.ctx.mcp_lock:
        service = app.ctx.mcp
        if service is None:
            module = importlib.import_module("gateway.endpoints.mcp.server")
            limits = app.ctx.runtimes.current.config.limits
            service = module.McpService(limits.max_body_bytes)
            await service.start()
            app.ctx.mcp = service
    return service


async def stop_mcp(app: Any) -> None:
    service = app.ctx.mcp
    if service is not None:
        app.ctx.mcp = None
        await service.close()


async def serve_mcp(call: Call) -> None:
    service = await start_mcp(call.request.app)
    await service.serve(call.request, call.runtime, call.exchange)


MCP_ENDPOINT = Endpoint("mcp", serve_mcp, family=JSONRPC)
