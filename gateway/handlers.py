"""The one place where the stages meet: route, auth, decode, resolve, sink, encode, log.

Every inbound request goes through :func:`dispatch`, so auth, error shapes and logging cannot
be forgotten on one endpoint and remembered on another.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from . import ir
from .config import RouteConfig
from .dialects import DIALECTS, error_encoder
from .dialects import custom as custom_dialect
from .errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    RouteNotFound,
    UpstreamTimeout,
)
from .exchange import Exchange
from .info_endpoints import INFO_ENDPOINTS
from .ir_json import request_from_json, request_to_json, response_from_json, response_to_json
from .pipeline import TransformContext
from .plugins import authenticate, notify
from .relay import relay
from .routing import Route
from .runtime import Runtime
from .sinks.base import Sink
from .sinks.http import HttpSink
from .streaming import stream_events

__all__ = ["dispatch", "error_response", "json_response"]

log = logging.getLogger("gateway")

_GET_ENDPOINTS = frozenset(INFO_ENDPOINTS)
_UNAUTHENTICATED = frozenset({"health"})
_JSON = "application/json"


class _CustomDialect:
    """Custom routes have no codec of their own: their transforms shape what goes in and out."""

    name = custom_dialect.NAME
    encode_error = staticmethod(custom_dialect.encode_error)

    @staticmethod
    def stream_encoder(request: ir.Request, body: dict[str, Any]) -> custom_dialect.StreamEncoder:
        return custom_dialect.StreamEncoder(request)


CUSTOM = _CustomDialect()


_ID_PREFIX = os.urandom(4).hex()
_ids = itertools.count(1)


def _next_id() -> str:
    """A request id unique across restarts, without a system call per request."""
    return f"{_ID_PREFIX}{next(_ids):08x}"


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return HTTPResponse(data, status=status, headers=headers, content_type=_JSON)


def error_response(exchange: Exchange, error: GatewayError) -> HTTPResponse:
    status, body = error_encoder(exchange.endpoint, exchange.headers)(error)
    exchange.status = status
    exchange.error_type = error.kind
    return json_response(body, status, error.headers or None)


async def dispatch(request: Request, path: str = "") -> HTTPResponse | None:
    runtime: Runtime = request.app.ctx.runtime
    pm = request.app.ctx.plugins
    exchange = Exchange(
        id=_next_id(),
        method=request.method,
        path=request.path,
        headers=request.headers,
        remote_addr=request.remote_addr or request.ip,
    )
    request.ctx.exchange = exchange
    runtime.enter()
    try:
        route = runtime.router.match(request.path)
        if route is not None:
            exchange.route, exchange.endpoint = route.path, route.endpoint
        response = await _handle(request, runtime, route, exchange)
        if response is not None:
            exchange.status = response.status
        return response
    except GatewayError as error:
        return error_response(exchange, error)
    except asyncio.CancelledError:
        if not exchange.complete:
            exchange.status, exchange.error_type = 499, "client_disconnected"
        raise
    except Exception:
        log.exception("request %s failed inside the gateway", exchange.id)
        return error_response(
            exchange, GatewayError(f"Internal gateway error (request {exchange.id}); see the log.")
        )
    finally:
        exchange.finished = time.perf_counter()
        for sink in runtime.leave():
            asyncio.get_running_loop().create_task(sink.close())
        await notify(pm.hook.gateway_request_finished, exchange=exchange)


async def _handle(
    request: Request, runtime: Runtime, route: Route | None, exchange: Exchange
) -> HTTPResponse | None:
    if route is None:
        raise RouteNotFound(
            f"No route serves {request.method} {request.path}. See GET /status for the endpoints "
            "of this gateway, or add a route to routes.yaml."
        )
    expected = "GET" if route.endpoint in _GET_ENDPOINTS else "POST"
    if request.method != expected:
        if request.method == "OPTIONS":
            return HTTPResponse(status=204, headers={"allow": expected})
        raise MethodNotAllowed(
            f"{request.path} accepts {expected}, not {request.method}", headers={"allow": expected}
        )
    pm = request.app.ctx.plugins
    if route.endpoint not in _UNAUTHENTICATED:
        exchange.identity = await authenticate(
            pm.hook.gateway_authenticate, exchange=exchange, config=runtime.config
        )
    await notify(pm.hook.gateway_request_started, exchange=exchange)
    info = INFO_ENDPOINTS.get(route.endpoint)
    if info is not None:
        return await info(request, runtime, route, exchange)
    return await _completion(request, runtime, route, exchange)


def _body(request: Request) -> dict[str, Any]:
    if not request.body:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


async def _completion(
    request: Request, runtime: Runtime, route: Route, exchange: Exchange
) -> HTTPResponse | None:
    body = _body(request)
    timeout = runtime.config.limits.request_timeout
    transforms = _transforms(route)
    if transforms is None and route.endpoint in DIALECTS:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("model: field required (see GET /v1/models)", param="model")
        target = runtime.resolve(model, route)
        sink = runtime.sinks[target.sink]
        _note_target(exchange, model, target.model, sink, body.get("stream") is True)
        if isinstance(sink, HttpSink) and sink.passes_through(route.endpoint):
            return await relay(request, sink, route, exchange, body, target.model, timeout)
        dialect = DIALECTS[route.endpoint]
        ir_request = dialect.decode_request(body)
        ir_request.model = target.model
    elif transforms is None:
        raise InvalidRequest(
            f"{route.path} ({route.endpoint}) needs a sink that speaks it: route it to an "
            "HTTP upstream of that dialect (for count_tokens: the /api mount)."
        )
    else:
        ir_request, dialect = await _transformed_request(request, runtime, route, exchange, body)
        requested = ir_request.model
        target = runtime.resolve(requested, route)
        sink = runtime.sinks[target.sink]
        ir_request.model = target.model
        _note_target(exchange, requested, target.model, sink, ir_request.stream)
    if ir_request.stream:
        return await stream_events(request, sink, dialect, ir_request, body, exchange, timeout)
    try:
        async with asyncio.timeout(timeout):
            response = await sink.complete(ir_request)
    except TimeoutError:
        raise UpstreamTimeout(
            f"The sink '{sink.name}' did not answer within {timeout:g} s"
        ) from None
    exchange.usage, exchange.cost_usd = response.usage, response.cost_usd
    if transforms is None or not transforms.response_transforms:
        return json_response(dialect.encode_response(response))
    answer = await _transformed_response(runtime, route, exchange, request, ir_request, response)
    return json_response(answer if dialect is CUSTOM else dialect.encode_response(answer))


def _note_target(exchange: Exchange, model: str, target: str, sink: Sink, stream: bool) -> None:
    exchange.model, exchange.target_model, exchange.sink = model, target, sink.name
    exchange.stream = stream


def _transforms(route: Route) -> RouteConfig | None:
    """The route's configuration when it transforms requests or responses (custom routes do)."""
    config = route.config
    if config is None or not (config.request_transforms or config.response_transforms):
        return None
    return config


async def _transformed_request(
    request: Request, runtime: Runtime, route: Route, exchange: Exchange, body: dict[str, Any]
) -> tuple[ir.Request, Any]:
    """Decode (standard dialects) or take the body as is (custom), then the request transforms."""
    config = route.config
    assert config is not None
    context = TransformContext(
        route.path, "request", exchange.id, request.headers, body.get("model")
    )
    if route.endpoint == "custom":
        payload = await runtime.pipeline.run(config.request_transforms, body, context)
        return request_from_json(payload, default_model=config.model), CUSTOM
    dialect = DIALECTS[route.endpoint]
    decoded = dialect.decode_request(body)
    payload = await runtime.pipeline.run(
        config.request_transforms, request_to_json(decoded), context
    )
    return request_from_json(payload, default_model=decoded.model), dialect


async def _transformed_response(
    runtime: Runtime,
    route: Route,
    exchange: Exchange,
    request: Request,
    ir_request: ir.Request,
    response: ir.Response,
) -> Any:
    """The response transforms' output: any JSON (custom routes) or an IR response."""
    config = route.config
    assert config is not None
    context = TransformContext(
        route.path, "response", exchange.id, request.headers, exchange.model,
        request_to_json(ir_request),
    )  # fmt: skip
    payload = await runtime.pipeline.run(
        config.response_transforms, response_to_json(response), context
    )
    return payload if route.endpoint == "custom" else response_from_json(payload)
