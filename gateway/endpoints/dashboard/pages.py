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
from ...errors import AuthenticationFailed, InvalidRequest, MethodNotAllowed
from ...flow.answers import json_response
from ...flow.endpoints import Call, Endpoint
from ...ledger.report import window
from ...server.runtime import Runtime
from ..info import sink_states
from .access import COOKIE, authorise, end_session, same_origin, start_session

__all__ = ["DASHBOARD_ENDPOINTS"]

_STATIC = resources.files(__package__) / "static"
_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
_BUCKETS = 60
_MINUTES = (15, 60, 360, 1440)
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
    except AuthenticationFailed:
        if page == "data":
            raise
        exchange.status = 401
        ended = "Your session has ended (it expired, or its key changed): log in again."
        return _login_page(ended if request.cookies.get(COOKIE) else "")
    if page == "data":
        return json_response(await _data(request, runtime), headers=_HEADERS)
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
    response = _see_other()
    start_session(call, response, token, secure=secure)
    return response


async def _data(request: Request, runtime: Runtime) -> dict[str, Any]:
    try:
        minutes = int(request.args.get("minutes", "60"))
    except ValueError:
        raise InvalidRequest("minutes must be a whole number") from None
    if minutes not in _MINUTES:
        raise InvalidRequest(f"minutes must be one of {', '.join(map(str, _MINUTES))}")
    writer = runtime.services.ledger.writer
    data: dict[str, Any] = {
        "version": __version__,
        "now": time.time(),
        "minutes": minutes,
        "sinks": sink_states(runtime, list(runtime.sinks)),
        "targets": runtime.services.targets.snapshot(),
        "ledger": None if writer is None else writer.status(),
        "usage": None,
    }
    if writer is None:
        return data
    until = time.time()
    # The page shows every request that has finished, unless the database holds the writes.
    await writer.caught_up(_FLUSH_WAIT)
    try:
        async with asyncio.timeout(_QUERY_WAIT):
            data["usage"] = await window(writer.store, until - minutes * 60, until, _BUCKETS)
        data["ledger"] = writer.status()
    except TimeoutError:
        data["ledger"] = writer.status() | {
            "error": f"the ledger did not answer within {_QUERY_WAIT:g} s"
        }
    except Exception as exc:  # a ledger database that is down: the page says so
        data["ledger"] = writer.status() | {"error": f"{type(exc).__name__}: {exc}"}
    return data


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
