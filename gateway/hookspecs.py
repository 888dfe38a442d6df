"""Every hook a plugin can implement. Hooks are called with keyword arguments only.

A plugin may implement a hook with fewer arguments than its spec lists, so arguments can be
added later without breaking it. Implementations may be ``async``: the gateway awaits them.
Documented in docs/hooks.md (a test keeps the two in step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .config import Config
    from .exchange import Exchange
    from .flow.endpoints import Endpoint
    from .server.services import Services
    from .sinks.base import Sink

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("gateway")
hookimpl = pluggy.HookimplMarker("gateway")


@hookspec
def gateway_authenticate(exchange: Exchange, config: Config) -> Any:
    """Fires before the body is read. Return an identity to accept, None to pass; raise
    AuthenticationFailed (or return False) to reject."""


@hookspec
def gateway_request_started(exchange: Exchange) -> None:
    """Fires once a request has been routed and authenticated, before its body is decoded."""


@hookspec
def gateway_request_finished(exchange: Exchange) -> None:
    """Fires when a response is complete or failed (also for a request refused while it was read:
    too slow, too large): status, timings, model, sink and usage are set."""


@hookspec
def gateway_register_sinks() -> dict[str, type[Sink]]:
    """Fires at start. Return a mapping of sink kind (``kind:`` in routes.yaml) to Sink class."""


@hookspec
def gateway_register_endpoints() -> list[Endpoint]:
    """Fires when a configuration is loaded. Return Endpoints; a route's ``dialect:`` names one."""


@hookspec
def gateway_startup(config: Config, services: Services) -> None:
    """Fires when the server starts or reloads its configuration, after the sinks and services
    are started; ``services`` holds the key limiter, the metrics registry and the ledger."""


@hookspec
def gateway_shutdown() -> None:
    """Fires once when the server stops, after the last request; flush and close things here."""
