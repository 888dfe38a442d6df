"""Token auth: when routes.yaml sets ``auth.token`` or ``auth.keys``, every request must present
the token or one of the keys. An accepted key names the exchange (``exchange.key_name``)."""

from __future__ import annotations

import hmac

from ..config import Config
from ..errors import AuthenticationFailed, PermissionDenied
from ..exchange import Exchange
from ..hookspecs import hookimpl

__all__ = ["TokenAuth", "presented_token"]


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


class TokenAuth:
    @hookimpl
    def gateway_authenticate(self, exchange: Exchange, config: Config) -> object:
        if not config.auth_required:
            return None
        token = presented_token(exchange.headers)
        if token is None:
            raise AuthenticationFailed(
                "This gateway requires a token: send it as the API key of your client "
                "(x-api-key or Authorization: Bearer).",
                code="missing_api_key",
            )
        # Header bytes that are not UTF-8 arrive as surrogate escapes: compare them as such.
        presented = token.encode("utf-8", "surrogateescape")
        expected = config.auth_token
        if expected and hmac.compare_digest(presented, expected.encode()):
            return {"auth": "token"}
        key = config.keys.find(token)
        if key is None:
            raise AuthenticationFailed("The gateway token is not valid.", code="invalid_api_key")
        exchange.key_name = key.name
        if exchange.route is not None and not key.allows_route(exchange.route):
            raise PermissionDenied(
                f"The key '{key.name}' may not call {exchange.route}.", code="route_not_allowed"
            )
        return {"auth": "key", "key": key.name}
