"""The app factory: a Sanic app serving one Config, with its plugins and sinks on ``app.ctx``."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from itertools import count
from typing import Any

import pluggy
from sanic import Request, Sanic
from sanic.exceptions import RequestCancelled, SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse

from .config import Config
from .endpoints.mcp import has_mcp_route, start_mcp, stop_mcp
from .errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    UpstreamTimeout,
)
from .flow.dispatch import dispatch, error_response, new_exchange
from .flow.routes import Router
from .server.context import GatewayContext
from .server.http_reading import GatewayHttpProtocol
from .server.plugins import build_plugin_manager, notify
from .server.reload import Reloader
from .server.runtime import Runtimes, build_runtime
from .server.services import Services
from .server.signals import stop_on_signals

__all__ = ["create_app"]

log = logging.getLogger("gateway")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
_app_numbers = count(1)


def create_app(
    config: Config,
    *,
    plugins: pluggy.PluginManager | None = None,
    name: str | None = None,
    reload_interval: float | None = None,
    open_to_remote: bool = False,
    handle_signals: bool = False,
) -> Sanic:
    """An app for ``config``; sinks are started when the server starts, on its event loop.

    With ``reload_interval`` (seconds), the files of the configuration are watched and a
    change, or SIGHUP, reloads it (see ``gateway.server.reload``). Without a token, only requests
    addressed to localhost are served unless ``open_to_remote`` (the operator's explicit
    ``--allow-unauthenticated-remote``). ``handle_signals``: SIGTERM and SIGINT stop it from
    the moment it says it serves (``gateway serve``, which runs it without Sanic's handlers).
    """
    pm = plugins or build_plugin_manager(config)
    services = Services()
    runtimes = Runtimes(build_runtime(config, pm, services=services))
    context = GatewayContext(runtimes, services, open_to_remote=open_to_remote)
    app = _GatewaySanic(
        name or f"gateway_{next(_app_numbers)}", ctx=context, configure_logging=False
    )
    app.config.REQUEST_MAX_SIZE = config.limits.max_body_bytes
    app.config.RESPONSE_TIMEOUT = config.limits.request_timeout + 30
    app.config.NOISY_EXCEPTIONS = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.ACCESS_LOG = False
    app.config.MOTD = False
    app.error_handler = _DialectErrorHandler()
    app.add_route(dispatch, "/", methods=_METHODS, name="root")
    app.add_route(dispatch, "/<path:path>", methods=_METHODS, name="dispatch")

    @app.on_response
    async def _answer_headers(request: Any, response: Any) -> None:
        """On every answer, streamed ones included: the CORS headers, so that browsers of
        allowed origins may read it, and a named key's rate-limit headers, which replace an
        upstream's own (the key's limits are what this client must keep to). One middleware,
        not two: Sanic's cost is per middleware and per request."""
        context = request.ctx
        exposure = getattr(context, "exposure", None)
        if exposure is not None and request.method != "OPTIONS":
            origin = request.headers.get("origin")
            if origin:
                for name, value in exposure.cors_headers(origin, preflight=False).items():
                    response.headers.setdefault(name, value)
        rate_headers = getattr(context, "rate_headers", None)
        if rate_headers:
            response.headers.update(rate_headers)

    @app.before_server_start
    async def _start(app: Sanic) -> None:
        context: GatewayContext = app.ctx
        runtime = context.runtimes.current
        await runtime.start()
        await context.services.configure(runtime.config)
        if has_mcp_route(runtime.config):
            await start_mcp(app)
        await notify(
            runtime.plugins.hook.gateway_startup, config=runtime.config, services=context.services
        )
        reloader = context.reloader = Reloader(app, reload_interval or 1.0)
        if reload_interval:
            context.spawn(reloader.watch())
        _on_sighup(lambda: context.spawn(reloader.reload("SIGHUP")))

    @app.after_server_start
    async def _announce(app: Sanic) -> None:
        if handle_signals:  # before anyone can read that it serves (server/signals.py)
            stop_on_signals(app)
        runtime = app.ctx.runtimes.current
        log.info(
            "serving %s on %s%s",
            runtime.config.source,
            app.serve_location,
            _addresses(runtime.router, app.serve_location),
        )

    @app.after_server_stop
    async def _stop(app: Sanic) -> None:
        for task in list(app.ctx.background):
            task.cancel()
        await stop_mcp(app)
        runtime = app.ctx.runtimes.current
        await runtime.close()
        await notify(runtime.plugins.hook.gateway_shutdown)
        await app.ctx.services.close()

    return app


# What a newcomer opens first, when the configuration routes it.
_ADDRESSES = (
    ("/v1/chat/completions", "OpenAI clients", "/v1"),
    ("/v1/messages", "Anthropic clients", ""),
    ("/status", "status", "/status"),
    ("/dashboard", "dashboard", "/dashboard"),
)


def _addresses(router: Router, base: str) -> str:
    """The base URLs of the clients, /status and the dashboard, one per line."""
    found = [(what, base + shown) for path, what, shown in _ADDRESSES if router.match(path)]
    width = max((len(what) for what, _ in found), default=0)
    return "".join(f"\n  {what.ljust(width)}  {url}" for what, url in found)


def _on_sighup(callback: Any) -> None:
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, callback)
    except (NotImplementedError, RuntimeError, ValueError):
        log.debug("SIGHUP cannot be handled here (not the main thread); file watching still works")


class _GatewaySanic(Sanic):
    """Sanic reading requests with the gateway's protocol (header and body deadlines, readable
    413s), however the server is started: ``app.run`` (``gateway serve``) or ``create_server``."""

    def prepare(self, *args: Any, protocol: Any = None, **kwargs: Any) -> None:
        super().prepare(*args, protocol=protocol or GatewayHttpProtocol, **kwargs)

    async def create_server(self, *args: Any, protocol: Any = None, **kwargs: Any) -> Any:
        protocol = protocol or GatewayHttpProtocol
        return await super().create_server(*args, protocol=protocol, **kwargs)


# Sanic's own errors; the gateway's protocol raises its own for timeouts and sizes, so these
# are what is left (a malformed request line, Sanic's idle REQUEST_TIMEOUT, RESPONSE_TIMEOUT).
_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    413: PayloadTooLarge,
    503: UpstreamTimeout,
}
_SANIC_MESSAGES = {
    408: "The request was not received in time: the client sent nothing for "
    "{seconds} s in the middle of its headers.",
}


class _DialectErrorHandler(ErrorHandler):
    """Errors raised outside the gateway's handler (a request too large or too slow, bad
    HTTP) in the route's dialect; such a request is logged here, as the handler never ran."""

    async def default(self, request: Request, exception: BaseException) -> HTTPResponse:
        runtime = request.app.ctx.runtimes.current
        exchange = getattr(request.ctx, "exchange", None)
        log_here = exchange is None  # else the handler ran, and logs the request itself
        if exchange is None:
            exchange = new_exchange(request, runtime)
        # The route's dialect decides the error's shape, also for methods Sanic refuses.
        route = runtime.router.match(request.path)
        if route is not None:
            exchange.route, exchange.endpoint = route.path, route.endpoint.name
        if isinstance(exception, RequestCancelled):  # the client left: nothing can be sent
            response = HTTPResponse(status=499)
            exchange.status, exchange.error_type = 499, "client_disconnected"
        else:
            family = route.endpoint.family if route is not None else None
            response = error_response(exchange, _client_error(request, exception), family)
        if log_here:
            exchange.finished = time.perf_counter()
            await notify(runtime.plugins.hook.gateway_request_finished, exchange=exchange)
        return response


def _client_error(request: Request, exception: BaseException) -> GatewayError:
    if isinstance(exception, GatewayError):
        return exception
    if isinstance(exception, SanicException):
        status = exception.status_code
        template = _SANIC_MESSAGES.get(status)
        seconds = request.app.config.REQUEST_TIMEOUT
        message = template.format(seconds=seconds) if template else str(exception)
        return _BY_STATUS.get(status, GatewayError)(message)
    log.error("unhandled error", exc_info=exception)
    return GatewayError("Internal gateway error; see the log.")
