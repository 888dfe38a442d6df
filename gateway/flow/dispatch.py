"""The one handler: every request is routed, guarded, authenticated, admitted, served by its
endpoint and announced here, so none of it can be forgotten on one endpoint and kept on another.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import time
from typing import Any

import pluggy
from sanic import Request
from sanic.response import HTTPResponse

from ..dialects import ANTHROPIC, error_encoder, error_family
from ..errors import GatewayError, InvalidRequest, MethodNotAllowed, RouteNotFound
from ..exchange import Exchange
from ..server.plugins import notify
from ..server.runtime import Runtime, Runtimes
from .answers import json_response
from .auth import authenticate_call
from .body import TOO_DEEP
from .endpoints import Call
from .guard import refuse_foreign_names
from .pricing import price_answer
from .routes import Route

__all__ = ["dispatch", "error_response", "new_exchange"]

log = logging.getLogger("gateway")

_ID_PREFIX = os.urandom(4).hex()
_ids = itertools.count(1)


def new_exchange(request: Request, runtime: Runtime) -> Exchange:
    """The exchange of a request, with an id unique across restarts (without a system call per
    request) and the client's address as the trusted proxies give it."""
    address = runtime.config.exposure.client_address(request.ip, request.headers)
    exchange_id = f"{_ID_PREFIX}{next(_ids):08x}"
    return Exchange(exchange_id, request.method, request.path, request.headers, address)


def error_response(exchange: Exchange, error: GatewayError, family: str | None) -> HTTPResponse:
    """``error`` in the shape the client reads: its endpoint's family, else a guess."""
    status, body = error_encoder(family, exchange.headers)(error)
    exchange.status = status
    exchange.error_type = error.kind
    headers = {**exchange.response_headers, **error.headers}  # the target tried, if any
    return json_response(body, status, headers or None)


async def dispatch(request: Request, path: str = "") -> None:
    runtimes: Runtimes = request.app.ctx.runtimes
    runtime = runtimes.enter()
    exchange = request.ctx.exchange = new_exchange(request, runtime)
    request.ctx.exposure = runtime.config.exposure
    try:
        response = await _answer(request, runtime, exchange)
        if response is not None:
            # Sent here rather than by Sanic once this returns: the request-finished hooks
            # below (access log, metrics, ledger) then run after the client has its answer.
            # Its key's slot is freed first, so that its next request finds it free.
            exchange.status = response.status
            await _settle(request, runtime, exchange)
            await request.respond(response)
            if request.method != "HEAD":  # a HEAD's answer is sent whole by respond()
                await response.send(end_stream=True)
            exchange.complete = True
        return None
    except asyncio.CancelledError:
        if not exchange.complete:
            exchange.status, exchange.error_type = 499, "client_disconnected"
        raise
    finally:
        exchange.finished = time.perf_counter()
        await _settle(request, runtime, exchange)
        for sink in runtimes.leave(runtime):
            request.app.ctx.close_later(sink)
        await announce_finished(request, runtime.plugins, exchange)


async def announce_finished(
    request: Request, plugins: pluggy.PluginManager, exchange: Exchange
) -> None:
    """The request-finished hooks. Sync ones (the built-ins) have run when the hook call
    returns. Async ones run in a task of their own: the answer is out, the client may have
    hung up, and the connection's task may be cancelled before they end."""
    pending = [r for r in plugins.hook.gateway_request_finished(exchange=exchange) if r is not None]
    if pending:
        await asyncio.shield(request.app.ctx.spawn(_in_turn(pending)))


async def _in_turn(awaitables: list[Any]) -> None:
    for awaitable in awaitables:
        if inspect.isawaitable(awaitable):
            await awaitable


async def _answer(request: Request, runtime: Runtime, exchange: Exchange) -> HTTPResponse | None:
    """The answer to send, an error in the client's dialect included; None once a streamed
    answer has been sent."""
    route = runtime.router.match(request.path)
    family = route.endpoint.family if route is not None else None
    try:
        if route is None:
            raise RouteNotFound(
                f"No route serves {request.method} {request.path}. See GET /status for the "
                "endpoints of this gateway, or add a route to routes.yaml."
            )
        exchange.route, exchange.endpoint = route.path, route.endpoint.name
        exchange.monitoring = route.endpoint.monitoring
        return await _serve(request, runtime, route, exchange)
    except GatewayError as error:
        return error_response(exchange, error, family)
    except RecursionError:  # a body nested deeper than a decoder walks
        return error_response(exchange, InvalidRequest(TOO_DEEP), family)
    except Exception:
        log.exception("request %s failed inside the gateway", exchange.id)
        error = GatewayError(f"Internal gateway error (request {exchange.id}); see the log.")
        return error_response(exchange, error, family)


async def _serve(
    request: Request, runtime: Runtime, route: Route, exchange: Exchange
) -> HTTPResponse | None:
    endpoint = route.endpoint
    call = Call(request, runtime, route, exchange)
    if endpoint.page:  # a page for browsers: it answers methods and refusals as pages
        refuse_foreign_names(request, runtime)
        return await endpoint.serve(call)
    if not endpoint.allows(request.method):
        allowed = ", ".join(endpoint.methods)
        if request.method == "OPTIONS":  # a CORS preflight: browsers send no credentials
            cors = runtime.config.exposure.cors_headers(
                request.headers.get("origin"),
                preflight=True,
                requested_headers=request.headers.get("access-control-request-headers"),
            )
            return HTTPResponse(status=204, headers={"allow": allowed, **cors})
        raise MethodNotAllowed(
            f"{request.path} accepts {allowed}, not {request.method}", headers={"allow": allowed}
        )
    refuse_foreign_names(request, runtime)
    if endpoint.authenticated:
        await authenticate_call(runtime, exchange, any_route=endpoint.listing)
        await _admit(request, runtime, route, exchange)
    await notify(runtime.plugins.hook.gateway_request_started, exchange=exchange)
    return await endpoint.serve(call)


async def _admit(request: Request, runtime: Runtime, route: Route, exchange: Exchange) -> None:
    """Counts the request against its named key's limits and budgets (docs/teams.md); 429 when
    over either."""
    if exchange.key_name is None:
        return
    services = runtime.services
    limiter = services.limiter
    anthropic = error_family(route.endpoint.family, exchange.headers) == ANTHROPIC
    admission = await limiter.admit(runtime.config.keys, exchange, anthropic)
    if admission is not None:
        request.ctx.admission, request.ctx.limiter = admission, limiter
        request.ctx.rate_headers = admission.headers
    if not (route.endpoint.monitoring or route.endpoint.listing):
        request.ctx.spending = await services.budgets.admit(exchange.key_name)
        request.ctx.budgets = services.budgets


async def _settle(request: Request, runtime: Runtime, exchange: Exchange) -> None:
    """The request's end, counted once: its cost at the price table's prices, then its key's
    hold on its limits released and its cost and tokens added to its budgets. The ledger and
    the other request-finished hooks see the same cost afterwards."""
    ctx = request.ctx
    if getattr(ctx, "settled", False):
        return
    ctx.settled = True
    price_answer(runtime.config.prices, exchange)
    admission = getattr(ctx, "admission", None)
    if admission is not None:
        ctx.admission = None
        await ctx.limiter.finish(admission, exchange)
    spending = getattr(ctx, "spending", None)
    if spending is not None:
        ctx.spending = None
        await ctx.budgets.count(spending, exchange)
