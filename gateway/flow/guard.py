"""The Host and Origin guard: a web page the user opens must not reach the gateway through DNS
rebinding (another Host) or a cross-site request (another Origin)."""

from __future__ import annotations

from sanic import Request

from ..config.exposure import Exposure
from ..errors import PermissionDenied
from ..server.runtime import Runtime

__all__ = ["refuse_foreign_names"]


def refuse_foreign_names(request: Request, runtime: Runtime) -> None:
    """A 403 for a Host or Origin this gateway does not answer to, unless it is open to any."""
    exposure = runtime.config.exposure
    if exposure.public_url or not (runtime.config.auth_required or request.app.ctx.open_to_remote):
        _refuse_foreign(request, exposure)


def _refuse_foreign(request: Request, exposure: Exposure) -> None:
    """Only the names this gateway answers to are served: a web page must not reach it through
    DNS rebinding (another Host) or a cross-site request (another Origin)."""
    host = request.headers.get("host")
    if host and not exposure.serves_host(host):
        remedy = (
            "server.public_url names the one other host served"
            if exposure.public_url
            else "set auth.token to serve any name, or server.public_url"
        )
        raise PermissionDenied(
            f"This gateway serves only localhost{_and_public(exposure)} (this request came with "
            f"Host: {_quoted_header(host)}): {remedy}."
        )
    origin = request.headers.get("origin")
    if origin and not exposure.allows_origin(origin):
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
