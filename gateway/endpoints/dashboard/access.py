"""Who may see the dashboard: whoever the API's own auth hooks accept, the credential coming
from an HttpOnly cookie that the login form sets; with no credential asked for (no token),
only this machine.

The cookie holds the token itself and is read only for /dashboard paths (``Path=/dashboard``,
``SameSite=Strict``), so another site's form can never spend it on the API.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping

from sanic import Request
from sanic.response import HTTPResponse

from ...errors import PermissionDenied
from ...flow.auth import authenticate_call, presented_token
from ...flow.endpoints import Call

__all__ = ["COOKIE", "authorise", "forget_token", "keep_token", "same_origin"]

COOKIE = "gateway_dashboard"
_MAX_AGE = 7 * 86400


class _WithCredential(Mapping[str, str]):
    """The request's headers plus ``authorization: Bearer <cookie>``, so that every auth hook,
    the built-in token or a plugin's named keys, judges the cookie as it judges the API key."""

    def __init__(self, headers: Mapping[str, str], token: str) -> None:
        self._headers = headers
        self._extra = {"authorization": f"Bearer {token}"}

    def __getitem__(self, name: str) -> str:
        lowered = name.lower()
        if lowered in self._extra:
            return self._extra[lowered]
        return self._headers[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._extra
        yield from (name for name in self._headers if name.lower() not in self._extra)

    def __len__(self) -> int:
        return len(list(iter(self)))


def with_token(headers: Mapping[str, str], token: str | None) -> Mapping[str, str]:
    if not token or presented_token(headers) is not None:
        return headers
    return _WithCredential(headers, token)


async def authorise(call: Call, token: str | None = None) -> None:
    """Raises AuthenticationFailed (no or a wrong credential) or PermissionDenied (an open
    gateway seen from another machine); ``token`` is tried instead of the cookie."""
    request, exchange = call.request, call.exchange
    exchange.headers = with_token(request.headers, token or request.cookies.get(COOKIE))
    await authenticate_call(call.runtime, exchange)
    if exchange.identity is None and not _loopback(request.ip):
        raise PermissionDenied(
            "Without auth.token the dashboard is shown on this machine only: set auth.token to "
            "open it from others."
        )


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def same_origin(request: Request) -> bool:
    """A form posted from a page of another site carries that site's Origin."""
    origin = request.headers.get("origin")
    host = request.headers.get("host") or ""
    return origin is None or origin.partition("://")[2].rstrip("/").lower() == host.lower()


def keep_token(response: HTTPResponse, token: str, *, secure: bool) -> None:
    response.add_cookie(
        COOKIE, token, path="/dashboard", httponly=True, samesite="Strict", secure=secure,
        max_age=_MAX_AGE,
    )  # fmt: skip


def forget_token(response: HTTPResponse, *, secure: bool) -> None:
    response.add_cookie(
        COOKIE, "", path="/dashboard", httponly=True, samesite="Strict", secure=secure, max_age=0
    )
