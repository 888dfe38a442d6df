"""What the gateway keeps on its Sanic app (``app.ctx``), every attribute declared here."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..sinks.base import Sink
    from .reload import Reloader
    from .runtime import Runtimes
    from .services import Services

__all__ = ["GatewayContext"]


class GatewayContext:
    __slots__ = (
        "background",
        "mcp",
        "mcp_lock",
        "open_to_remote",
        "reloader",
        "runtimes",
        "services",
    )

    def __init__(self, runtimes: Runtimes, services: Services, *, open_to_remote: bool) -> None:
        #: The current runtime (config, sinks, plugins) and those still finishing requests.
        self.runtimes = runtimes
        self.services = services
        #: The operator's --allow-unauthenticated-remote: other machines' clients may name
        #: the gateway by any host (flow/guard.py).
        self.open_to_remote = open_to_remote
        self.reloader: Reloader | None = None
        #: Tasks of the server's own (the file watcher, sinks closing after a reload).
        self.background: set[asyncio.Task[Any]] = set()
        #: The MCP service, started when a route needs it (gateway/endpoints/mcp/__init__.py).
        self.mcp: Any = None
        self.mcp_lock = asyncio.Lock()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Runs ``coro`` in the background; shutdown cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def close_later(self, sink: Sink) -> None:
        self.spawn(sink.close())
