"""The Host and Origin guard: a web page the user opens must not reach the gateway through DNS
rebinding (another Host) or a cross-site request (another Origin).

Every request must carry exactly one Host that is a host name (or address) and a port, and at
most one Origin that is an origin: anything else is a 400, so no parser down the line can read
``Host: localhost:80@evil.com`` as localhost or pick another of two Host headers.

Without a token, the guard always holds for the clients of this machine. The operator's
``--allow-unauthenticated-remote`` lets clients of *other* machines (the connection from
elsewhere, and the client's address as the trusted proxies give it too) name the gateway by any
host; their Origin is still checked, and nothing of it changes what a page in a local browser
may do.
"""

from __future__ import annotations

from sanic import Request

from ..config.exposure import Exposure, host_name, is_loopback, origin_host
from ..errors import InvalidRequest, PermissionDenied
from ..server.runtime import Runtime

__all__ = ["refuse_foreign_names"]


def refuse_foreign_names(request: Request, runtime: Runtime) -> None:
    """A 400 for a malformed Host or Origin; a 403 for one this gateway does not answer to."""
    host = _one(request, "host")
    if host is None:
        raise InvalidRequest("The request has no Host header; HTTP/1.1 requires one.")
    if host_name(host) is None:
        raise InvalidRequest(f"Host: {_quoted_header(host)} is not a host name and port.")
    origin = _one(request, "origin")
    if origin is not None and origin_host(origin) is None:
        raise InvalidRequest(f"Origin: {_quoted_header(origin)} is not an origin.")
    exposure = runtime.config.exposure
    if exposure.public_url:
        _refuse_foreign(exposure, host, origin)
    elif not runtime.config.auth_required:
        # The connection itself must come from elsewhere: a page on this machine can send
        # X-Forwarded-For as well as a proxy can.
        remote = (
            request.app.ctx.open_to_remote
            and not is_loopback(request.ip)
            and not is_loopback(_client(request, exposure))
        )
        _refuse_foreign(exposure, None if remote else host, origin)


def _one(request: Request, name: str) -> str | None:
    values = request.headers.getall(name, [])
    if len(values) > 1:
        raise InvalidRequest(f"The request has {len(values)} {name.title()} headers; send one.")
    return values[0] if values else None


def _client(request: Request, exposure: Exposure) -> str:
    exchange = getattr(request.ctx, "exchange", None)
    if exchange is not None:
        return exchange.remote_addr
    return exposure.client_address(request.ip, request.headers)


def _refuse_foreign(exposure: Exposure, host: str | None, origin: str | None) -> None:
    """Only the names this gateway answers to are served: a web page must not reach it through
    DNS rebinding (another Host) or a cross-site request (another Origin)."""
    if host is not None and not exposure.serves_host(host):
        remedy = (
            "server.public_url names the one other host served"
            if exposure.public_url
            else "set auth.token to serve any name, or server.public_url"
        )
        raise PermissionDenied(
            f"This gateway serves only localhost{_and_public(exposure)} (this request came with "
            f"Host: {_quoted_header(host)}): {remedy}."
        )
    if origin is not None and not exposure.allows_origin(origin):
        raise PermissionDenied(
            f"Requests from the origin {_quoted_header(origin)} are not allowed: add it to "
            "server.cors_origins in routes.yaml."
        )


def _quoted_header(value: str) -> str:
    """A header value fit for an answer: Sanic keeps bytes that are not UTF-8 as lone
    surrogates, which no UTF-8 body can hold; they are shown as U+FFFD."""
    return value[:100].encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _and_public(exposure: Exposure) -> str:
    return f" and {exposure.public_host}" if exposure.public_host else ""
