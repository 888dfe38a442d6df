"""The dashboard's paths: the page, its script and style, the JSON it polls, login and logout."""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Any
from urllib.parse import quote

from sanic import Request
from sanic.response import HTTPResponse

from ... import __version__
from ...errors import AuthenticationFailed, GatewayError, InvalidRequest, MethodNotAllowed
from ...flow.answers import json_response
from ...flow.endpoints import Call, Endpoint
from ...ledger.report import Scope, recent, window
from ...server.runtime import Runtime
from ..info import sink_states
from .access import COOKIE, authorise, end_session, same_origin, start_session, viewer

__all__ = ["DASHBOARD_ENDPOINTS"]

_STATIC = resources.files(__package__) / "static"
_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
_BUCKETS = 60
#: 15 minutes to 30 days.
_MINUTES = (15, 60, 360, 1440, 10080, 43200)
_RECENT = 50
_QUERY_CHARS = 200
# A ledger database that blocks (a locked table, a server that does not answer) must not hold
# the page: it waits this long for the pending rows to be written, then this long for the
# rows of its window, and otherwise shows what it has with the ledger's state.
_FLUSH_WAIT = 1.0
_QUERY_WAIT = 4.0
# The page runs only its own script and style, and no other site may frame it.
_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "x-content-type-options": "nosniff",
    # Not no-referrer: with it Chromium sends "Origin: null" with the login form.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


async def serve_dashboard(call: Call) -> HTTPResponse:
    request, runtime, route, exchange = call.request, call.runtime, call.route, call.exchange
    page = route.path.removeprefix("/dashboard").lstrip("/")
    if not route.endpoint.allows(request.method):
        allowed = ", ".join(route.endpoint.methods)
        raise MethodNotAllowed(
            f"{request.path} accepts {allowed}, not {request.method}", headers={"allow": allowed}
        )
    if page in _ASSETS:  # the same for everyone: nothing in them is private
        return _static(page, _ASSETS[page], status=200, cache="max-age=300")
    public_url = runtime.config.exposure.public_url or ""
    secure = request.scheme == "https" or public_url.startswith("https:")
    if page == "logout":
        response = _see_other()
        end_session(response, secure=secure)
        return response
    if page == "login":
        return await _login(call, secure)
    try:
        await authorise(call)
    except GatewayError as refused:
        if page == "data":
            raise
        exchange.status = refused.status
        if isinstance(refused, AuthenticationFailed):
            ended = "Your session has ended (it expired, or its key changed): log in again."
            return _login_page(ended if request.cookies.get(COOKIE) else "")
        return _login_page(refused.message, status=refused.status)
    if page == "data":
        scope = viewer(exchange.identity)
        return json_response(await _data(request, runtime, scope), headers=_HEADERS)
    return _static("index.html", "text/html; charset=utf-8", status=200)


async def _login(call: Call, secure: bool) -> HTTPResponse:
    request, exchange = call.request, call.exchange
    if not same_origin(request):
        raise AuthenticationFailed("The dashboard's login form posts from its own page only.")
    token = (request.form or {}).get("token") or ""
    if not token:
        return _login_page("Enter the gateway's token.", status=401)
    try:
        await authorise(call, token=token)
    except AuthenticationFailed:
        exchange.status = 401
        return _login_page("That token is not accepted by this gateway.", status=401)
    except GatewayError as refused:  # accepted, then refused (a plugin's rule, say): say why
        exchange.status = refused.status
        return _login_page(f"Not allowed: {refused.message}", status=refused.status)
    response = _see_other()
    start_session(call, response, token, secure=secure)
    return response


async def _data(request: Request, runtime: Runtime, scope: Scope) -> dict[str, Any]:
    args = request.args
    try:
        minutes = int(args.get("minutes", "60"))
    except ValueError:
        raise InvalidRequest("minutes must be a whole number") from None
    if minutes not in _MINUTES:
        raise InvalidRequest(f"minutes must be one of {', '.join(map(str, _MINUTES))}")
    query = (args.get("q") or "")[:_QUERY_CHARS]
    services = runtime.services
    writer = services.ledger.writer
    data: dict[str, Any] = {
        "version": __version__,
        "now": time.time(),
        "minutes": minutes,
        "viewer": {"key": scope.key, "admin": scope.every_key},
        "budgets": await services.budgets.report(_budgets_seen(runtime, services, scope)),
        "time_zone": services.budgets.options.time_zone,
        "usage": None,
        "recent": None,
    }
    if scope.every_key:  # the gateway's own state: for admins
        data["sinks"] = sink_states(runtime, list(runtime.sinks))
        data["targets"] = runtime.services.targets.snapshot()
        data["ledger"] = None if writer is None else writer.status()
    else:
        data["sinks"] = data["targets"] = None
        data["ledger"] = None if writer is None else {"backend": writer.store.backend}
    if writer is None:
        return data
    until = time.time()
    since = until - minutes * 60
    # The page shows every request that has finished, unless the database holds the writes.
    await writer.caught_up(_FLUSH_WAIT)
    problem = None
    try:
        async with asyncio.timeout(_QUERY_WAIT):
            data["usage"] = await window(writer.store, since, until, _BUCKETS, scope)
            data["recent"] = await recent(
                writer.store, since, until, scope, query=query,
                failed_only=args.get("errors") == "1", limit=_RECENT,
            )  # fmt: skip
    except TimeoutError:
        problem = f"the ledger did not answer within {_QUERY_WAIT:g} s"
    except Exception as exc:  # a ledger database that is down: the page says so
        problem = f"{type(exc).__name__}: {exc}"
    if scope.every_key:
        data["ledger"] = writer.status() | ({"error": problem} if problem else {})
    elif problem:
        data["ledger"] = {"backend": writer.store.backend, "error": "the ledger cannot be read"}
    return data


def _budgets_seen(runtime: Runtime, services: Any, scope: Scope) -> list[Any]:
    """Every budget for an admin; a key's own and its team's for the key."""
    if scope.every_key:
        return services.budgets.every()
    key = runtime.config.keys.get(scope.key)
    return services.budgets.of_key(key) if key is not None else []


def _static(name: str, content_type: str, *, status: int, cache: str = "no-store") -> HTTPResponse:
    body = (_STATIC / name).read_bytes()
    headers = _HEADERS | {"cache-control": cache}
    return HTTPResponse(body, status=status, headers=headers, content_type=content_type)


def _login_page(message: str, status: int = 401) -> HTTPResponse:
    text = (_STATIC / "login.html").read_text(encoding="utf-8")
    text = text.replace("{{message}}", _escape(message))
    return HTTPResponse(
        text, status=status, headers=_HEADERS, content_type="text/html; charset=utf-8"
    )


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _see_other() -> HTTPResponse:
    return HTTPResponse(
        status=303, headers={"location": quote("/dashboard"), **_HEADERS}, content_type="text/plain"
    )


#: The page, its script, style and data (GET), and the login and logout forms (POST).
DASHBOARD_ENDPOINTS = (
    Endpoint("dashboard", serve_dashboard, methods=("GET",), page=True, monitoring=True,
             paths=("/dashboard", "/dashboard/data", "/dashboard/app.js", "/dashboard/app.css")),
    Endpoint("dashboard.session", serve_dashboard, methods=("POST",), page=True,
             monitoring=True, paths=("/dashboard/login", "/dashboard/logout")),
)  # fmt: skip
