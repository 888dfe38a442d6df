"""The one place where the stages meet: route, auth, decode, resolve, sink, encode, log.

Every inbound request goes through :func:`dispatch`, so auth, error shapes and logging cannot
be forgotten on one endpoint and remembered on another.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import os
import re
import time
from typing import Any

import pluggy
from sanic import Request
from sanic.response import HTTPResponse

from ..builtin.key_limits import limiter_of
from ..config.exposure import Exposure
from ..config.routing import Route
from ..dialects import ANTHROPIC, COUNT_TOKENS, error_encoder, error_family
from ..endpoints.dashboard import serve_dashboard
from ..endpoints.info import INFO_ENDPOINTS
from ..endpoints.mcp import serve_mcp
from ..endpoints.tools import TOOL_ENDPOINTS
from ..errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    PermissionDenied,
    RouteNotFound,
    UpstreamTimeout,
)
from ..exchange import Exchange
from ..server.plugins import authenticate, notify
from ..server.runtime import Runtime, Runtimes
from ..sinks.base import Sink
from .answers import json_response
from .deadline import Deadline
from .prepare import prepare, refuse_model_not_allowed, transform_response
from .relay import relay
from .stream import stream_events

__all__ = ["dispatch", "error_response", "next_request_id"]

log = logging.getLogger("gateway")

_GET_ENDPOINTS = frozenset(INFO_ENDPOINTS)
_UNAUTHENTICATED = frozenset({"health"})


_ID_PREFIX = os.urandom(4).hex()
_ids = itertools.count(1)


def next_request_id() -> str:
    """A request id unique across restarts, without a system call per request."""
    return f"{_ID_PREFIX}{next(_ids):08x}"


def error_response(exchange: Exchange, error: GatewayError) -> HTTPResponse:
    status, body = error_encoder(exchange.endpoint, exchange.headers)(error)
    exchange.status = status
    exchange.error_type = error.kind
    return json_response(body, status, error.headers or None)


async def dispatch(request: Request, path: str = "") -> None:
    runtimes: Runtimes = request.app.ctx.runtimes
    pm = request.app.ctx.plugins
    exchange = Exchange(
        id=next_request_id(),
        method=request.method,
        path=request.path,
        headers=request.headers,
        remote_addr=request.ip,
    )
    request.ctx.exchange = exchange
    runtime = runtimes.enter()
    exposure = request.ctx.exposure = runtime.config.exposure
    exchange.remote_addr = exposure.client_address(request.ip, request.headers)
    try:
        response = await _answer(request, runtime, pm, exchange)
        if response is not None:
            # Sent here rather than by Sanic once this returns: the request-finished hooks
            # below (access log, metrics, ledger) then run after the client has its answer.
            # Its key's slot is freed first, so that its next request finds it free.
            exchange.status = response.status
            await _release_admission(request, exchange)
            await request.respond(response)
            await response.send(end_stream=True)
            exchange.complete = True
        return None
    except asyncio.CancelledError:
        if not exchange.complete:
            exchange.status, exchange.error_type = 499, "client_disconnected"
        raise
    finally:
        exchange.finished = time.perf_counter()
        await _release_admission(request, exchange)
        for sink in runtimes.leave(runtime):
            request.app.ctx.close_later(sink)
        await _announce_finished(request, pm, exchange)


async def _announce_finished(
    request: Request, pm: pluggy.PluginManager, exchange: Exchange
) -> None:
    """The request-finished hooks. Sync ones (the built-ins) have run when the hook call
    returns. Async ones run in a task of their own: the answer is out, the client may have
    hung up, and the connection's task may be cancelled before they end."""
    pending = [r for r in pm.hook.gateway_request_finished(exchange=exchange) if r is not None]
    if pending:
        await asyncio.shield(request.app.ctx.spawn(_in_turn(pending)))


async def _in_turn(awaitables: list[Any]) -> None:
    for awaitable in awaitables:
        if inspect.isawaitable(awaitable):
            await awaitable


async def _answer(
    request: Request, runtime: Runtime, pm: pluggy.PluginManager, exchange: Exchange
) -> HTTPResponse | None:
    """The answer to send, an error in the client's dialect included; None once a streamed
    answer has been sent."""
    try:
        route = runtime.router.match(request.path)
        if route is not None:
            exchange.route, exchange.endpoint = route.path, route.endpoint
        return await _handle(request, runtime, pm, route, exchange)
    except GatewayError as error:
        return error_response(exchange, error)
    except RecursionError:  # a body nested deeper than a decoder walks
        return error_response(exchange, InvalidRequest(_TOO_DEEP))
    except Exception:
        log.exception("request %s failed inside the gateway", exchange.id)
        return error_response(
            exchange, GatewayError(f"Internal gateway error (request {exchange.id}); see the log.")
        )


async def _handle(
    request: Request,
    runtime: Runtime,
    pm: pluggy.PluginManager,
    route: Route | None,
    exchange: Exchange,
) -> HTTPResponse | None:
    if route is None:
        raise RouteNotFound(
            f"No route serves {request.method} {request.path}. See GET /status for the endpoints "
            "of this gateway, or add a route to routes.yaml."
        )
    exposure = runtime.config.exposure
    if route.endpoint == "dashboard":  # a page for browsers: a login form, not an API error
        _refuse_foreign_names_unless_open(request, runtime)
        return await serve_dashboard(request, runtime, route, exchange)
    expected = "GET" if route.endpoint in _GET_ENDPOINTS else "POST"
    if request.method != expected:
        if request.method == "OPTIONS":  # a CORS preflight: browsers send no credentials
            cors = exposure.cors_headers(
                request.headers.get("origin"),
                preflight=True,
                requested_headers=request.headers.get("access-control-request-headers"),
            )
            return HTTPResponse(status=204, headers={"allow": expected, **cors})
        raise MethodNotAllowed(
            f"{request.path} accepts {expected}, not {request.method}", headers={"allow": expected}
        )
    _refuse_foreign_names_unless_open(request, runtime)
    if route.endpoint not in _UNAUTHENTICATED:
        exchange.identity = await authenticate(
            pm.hook.gateway_authenticate, exchange=exchange, config=runtime.config
        )
        await _admit(request, runtime, exchange)
    await notify(pm.hook.gateway_request_started, exchange=exchange)
    info = INFO_ENDPOINTS.get(route.endpoint)
    if info is not None:
        return await info(request, runtime, route, exchange)
    if route.endpoint == "mcp":
        return await serve_mcp(request, runtime, exchange)
    tool = TOOL_ENDPOINTS.get(route.endpoint)
    if tool is not None:
        assert route.config is not None
        answer = await tool.run(route.config.tool, _body(request), runtime.config.base_dir)
        return json_response(answer)
    return await _completion(request, runtime, route, exchange)


async def _admit(request: Request, runtime: Runtime, exchange: Exchange) -> None:
    """Counts the request against its named key's limits (docs/teams.md); 429 when over."""
    limiter = limiter_of(request.app.ctx.plugins)
    if limiter is None or exchange.key_name is None:
        return
    anthropic = error_family(exchange.endpoint, exchange.headers) == ANTHROPIC
    admission = await limiter.admit(runtime.config.keys, exchange, anthropic)
    if admission is not None:
        request.ctx.admission, request.ctx.limiter = admission, limiter
        request.ctx.rate_headers = admission.headers


async def _release_admission(request: Request, exchange: Exchange) -> None:
    """Ends the request's hold on its key's limits (once; its tokens count from here)."""
    admission = getattr(request.ctx, "admission", None)
    if admission is not None:
        request.ctx.admission = None
        await request.ctx.limiter.finish(admission, exchange)


def _refuse_foreign_names_unless_open(request: Request, runtime: Runtime) -> None:
    exposure = runtime.config.exposure
    if exposure.public_url or not (runtime.config.auth_required or request.app.ctx.open_to_remote):
        _refuse_foreign_names(request, exposure)


def _refuse_foreign_names(request: Request, exposure: Exposure) -> None:
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


def _body(request: Request) -> dict[str, Any]:
    if not request.body:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        text = request.body.decode("utf-8")  # strict: no surrogates hidden in raw bytes
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidRequest(_TOO_DEEP) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if _SURROGATE_ESCAPE.search(request.body):
        _refuse_lone_surrogates(body)
    return body


_TOO_DEEP = "The request body is nested too deeply."
# A \uD800-\uDFFF escape: JSON allows a lone one, but no UTF-8 text can hold it.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(body: dict[str, Any]) -> None:
    """A 400 naming the first string that holds half of a UTF-16 surrogate pair."""
    pending: list[tuple[str, Any]] = [("", body)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            pending += [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
            pending += [(f"{path} (a key)", k) for k in value]
        elif isinstance(value, list):
            pending += [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidRequest(
                    f"{path}: holds a lone UTF-16 surrogate (\\ud800-\\udfff without its pair), "
                    "which is not text; send valid Unicode",
                    param=path,
                ) from None


async def _completion(
    request: Request, runtime: Runtime, route: Route, exchange: Exchange
) -> HTTPResponse | None:
    body = _body(request)
    deadline = Deadline.after(runtime.config.limits.request_timeout)
    prepared = await prepare(runtime, route, body, request.headers, exchange.id)
    target, sink = prepared.target, prepared.sink
    exchange.model, exchange.target_model, exchange.sink = target.requested, target.model, sink.name
    refuse_model_not_allowed(runtime, exchange.key_name, target.requested)
    if prepared.dropped_tools:
        exchange.response_headers["x-gateway-dropped-tools"] = ", ".join(prepared.dropped_tools)
    if prepared.request is None:
        exchange.stream = body.get("stream") is True
        return await relay(request, sink, route, exchange, body, target.model, deadline)
    ir_request, dialect = prepared.request, prepared.dialect
    if route.endpoint == COUNT_TOKENS:
        try:
            async with deadline.scope():
                return json_response({"input_tokens": await sink.count_tokens(ir_request)})
        except TimeoutError:
            raise _sink_timeout(sink, deadline) from None
    assert dialect is not None
    exchange.stream = ir_request.stream
    if ir_request.stream:
        return await stream_events(request, sink, dialect, ir_request, exchange, deadline)
    try:
        async with deadline.scope():
            response = await sink.complete(ir_request)
    except TimeoutError:
        raise _sink_timeout(sink, deadline) from None
    exchange.usage, exchange.cost_usd = response.usage, response.cost_usd
    headers = exchange.response_headers or None
    if route.config is None or not route.config.response_transforms:
        return json_response(dialect.encode_response(response, ir_request), headers=headers)
    answer = await transform_response(
        runtime, route, exchange.id, request.headers, exchange.model, ir_request, response
    )
    if route.endpoint != "custom":
        answer = dialect.encode_response(answer, ir_request)
    return json_response(answer, headers=headers)


def _sink_timeout(sink: Sink, deadline: Deadline) -> UpstreamTimeout:
    return UpstreamTimeout(f"The sink '{sink.name}' did not answer within {deadline.seconds:g} s")
