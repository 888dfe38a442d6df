"""Authentication: the auth hooks judge a request, and what they accept is recorded once.

The accepting hook's identity goes on the exchange; an :class:`~gateway.exchange.Identity`
also names the key (limits, ledger, metrics) and the routes and models it may use.
"""

from __future__ import annotations

from ..errors import PermissionDenied
from ..exchange import Exchange, Identity
from ..server.plugins import authenticate
from ..server.runtime import Runtime

__all__ = ["authenticate_call", "presented_token"]


async def authenticate_call(
    runtime: Runtime, exchange: Exchange, *, any_route: bool = False
) -> None:
    """Runs the auth hooks on ``exchange``; raises when they refuse it, or when its identity
    may not call its route (unless ``any_route``: the model list follows ``models:`` only)."""
    identity = await authenticate(
        runtime.plugins.hook.gateway_authenticate, exchange=exchange, config=runtime.config
    )
    exchange.identity = identity
    if not isinstance(identity, Identity):
        return
    exchange.key_name = identity.key_name
    if not any_route and exchange.route is not None and not _allowed(identity, exchange.route):
        raise PermissionDenied(
            f"The key '{identity.key_name}' may not call {exchange.route}.",
            code="route_not_allowed",
        )


def _allowed(identity: Identity, route: str) -> bool:
    """A key that may call a route may also call the paths below it that another endpoint
    serves (``/v1/responses/*``: the responses it stored)."""
    if identity.allows_route(route):
        return True
    return route.endswith("/*") and identity.allows_route(route[:-2])


def presented_token(headers: object) -> str | None:
    """The token in ``x-api-key`` or ``Authorization: Bearer`` (as the Anthropic and OpenAI
    SDKs send their API keys)."""
    get = headers.get  # type: ignore[attr-defined]
    token = get("x-api-key")
    if token:
        return token
    authorization = get("authorization") or ""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
