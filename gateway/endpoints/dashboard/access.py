"""Who may see the dashboard: whoever the API's own auth hooks accept at the login form, then
their session (session.py) for ``LIFETIME``; with no credential asked for (no token), only this
machine, judged by the client's address as the rest of the gateway sees it (behind
``trusted_proxies``, the forwarded one).

The cookie is read only for /dashboard paths (``Path=/dashboard``, ``SameSite=Strict``) and is no
API key; it names the key that logged in and never holds a credential. A valid session puts that
key's identity on the exchange (``exchange.identity``, ``exchange.key_name``), and the session
itself on ``request.ctx.dashboard_session``, as an auth hook's answer would be.

Any key may log in, whatever its ``routes:``: an admin key (``admin: true``), ``auth.token`` and
this machine on a gateway without a token see every key; any other key its own usage and budgets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from ...config.exposure import is_loopback
from ...errors import PermissionDenied
from ...exchange import Identity, sees_every_key
from ...flow.auth import authenticate_call, presented_token
from ...flow.endpoints import Call
from ...ledger.report import Scope
from . import session as sessions

__all__ = ["COOKIE", "authorise", "end_session", "same_origin", "start_session", "viewer"]

COOKIE = "gateway_dashboard"


class _WithCredential(Mapping[str, str]):
    """The request's headers plus ``authorization: Bearer <credential>``, so that every auth
    hook, the built-in token or a plugin's named keys, judges the login form's credential as it
    judges an API key."""

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
    """Raises AuthenticationFailed (no session, no or a wrong credential) or PermissionDenied (an
    open gateway seen from another machine); ``token`` is the login form's credential."""
    request, exchange = call.request, call.exchange
    if token is None and _resume(call):
        return
    exchange.headers = with_token(request.headers, token)
    # Any key may open it (routes: are the API's paths); what it shows depends on viewer().
    await authenticate_call(call.runtime, exchange, any_route=True)
    if exchange.identity is None and not is_loopback(exchange.remote_addr):
        raise PermissionDenied(
            "Without auth.token the dashboard is shown on this machine only: set auth.token to "
            "open it from others."
        )


def _resume(call: Call) -> bool:
    """Puts the identity of the request's session on its exchange, if it has a valid one."""
    request, exchange = call.request, call.exchange
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return False
    config = call.runtime.config
    session = sessions.read(request.app.ctx.session_secret, cookie, config)
    if session is None:
        return False
    identity = session.identity(config)
    exchange.identity, exchange.key_name = identity, session.key_name
    request.ctx.dashboard_session = session
    return True


def viewer(identity: Any) -> Scope:
    """What a reader of the dashboard may see: every key's usage for an admin key, the
    gateway's own token (``auth.token``) or this machine on a gateway without a token (no
    identity); a key's own usage and budgets for any other key."""
    if sees_every_key(identity):
        return Scope(identity.key_name if isinstance(identity, Identity) else None)
    return Scope(identity.key_name, every_key=False)


def same_origin(request: Request) -> bool:
    """A form posted from a page of another site carries that site's Origin."""
    origin = request.headers.get("origin")
    host = request.headers.get("host") or ""
    return origin is None or origin.partition("://")[2].rstrip("/").lower() == host.lower()


def start_session(call: Call, response: HTTPResponse, credential: str, *, secure: bool) -> None:
    """Sets the cookie of a session for the login form's ``credential``, which the auth hooks
    have just accepted (nothing is set when no credential is asked for)."""
    exchange, config = call.exchange, call.runtime.config
    if exchange.identity is None:
        return
    kind = sessions.kind_of(config, credential)
    value = sessions.issue(call.request.app.ctx.session_secret, credential, exchange.key_name, kind)
    response.add_cookie(
        COOKIE, value, path="/dashboard", httponly=True, samesite="Strict", secure=secure,
        max_age=sessions.LIFETIME,
    )  # fmt: skip


def end_session(response: HTTPResponse, *, secure: bool) -> None:
    response.add_cookie(
        COOKIE, "", path="/dashboard", httponly=True, samesite="Strict", secure=secure, max_age=0
    )
