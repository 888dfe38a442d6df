"""What the gateway keeps on its Sanic app (``app.ctx``), every attribute declared here."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..sinks.base import Sink
    from .reload import Reloader
    from .runtime import Runtimes
    from .services import Services

__all__ = ["SESSION_SECRET", "GatewayContext", "session_secret"]

#: The variable that holds the key signing dashboard sessions; ``gateway serve --workers N``
#: sets it for its workers when the operator has not, so that every worker accepts a session.
SESSION_SECRET = "GATEWAY_SESSION_SECRET"


def session_secret() -> bytes:
    """The key signing dashboard sessions: the operator's (sessions then survive restarts and
    are shared by gateways given the same), else one drawn now (a restart logs everyone out)."""
    given = os.environ.get(SESSION_SECRET)
    return given.encode() if given else secrets.token_bytes(32)


class GatewayContext:
    __slots__ = (
        "background",
        "mcp",
        "mcp_lock",
        "open_to_remote",
        "reloader",
        "runtimes",
        "services",
        "session_secret",
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
        #: Signs the dashboard's session cookies (endpoints/dashboard/session.py).
        self.session_secret = session_secret()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Runs ``coro`` in the background; shutdown cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def close_later(self, sink: Sink) -> None:
        self.spawn(sink.close())
