"""Token auth: when routes.yaml sets ``auth.token`` or ``auth.keys``, every request must present
the token or one of the keys. It answers an Identity: the token's names no key, a named key's
carries its name and the routes and models it may use."""

from __future__ import annotations

import hmac

from ..config import Config
from ..errors import AuthenticationFailed
from ..exchange import Exchange, Identity
from ..flow.auth import presented_token
from ..hookspecs import hookimpl

__all__ = ["TokenAuth"]


class TokenAuth:
    @hookimpl
    def gateway_authenticate(self, exchange: Exchange, config: Config) -> Identity | None:
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
            return Identity()
        key = config.keys.find(token)
        if key is None:
            raise AuthenticationFailed("The gateway token is not valid.", code="invalid_api_key")
        return key.identity
