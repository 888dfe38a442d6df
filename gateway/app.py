"""The app factory: a Sanic app serving one Config, with its plugins and sinks on ``app.ctx``."""

from __future__ import annotations

import asyncio
import logging
import signal
from itertools import count
from typing import Any

import pluggy
from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse

from .config import Config
from .errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UpstreamTimeout,
)
from .exchange import Exchange
from .handlers import dispatch, error_response
from .plugins import build_plugin_manager, notify
from .reload import Reloader
from .runtime import Runtime, Runtimes, build_runtime

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
) -> Sanic:
    """An app for ``config``; sinks are started when the server starts, on its event loop.

    With ``reload_interval`` (seconds), the files of the configuration are watched and a
    change, or SIGHUP, reloads it (see ``gateway.reload``). Without a token, only requests
    addressed to localhost are served unless ``open_to_remote`` (the operator's explicit
    ``--allow-unauthenticated-remote``).
    """
    app = Sanic(name or f"gateway_{next(_app_numbers)}", configure_logging=False)
    app.config.REQUEST_MAX_SIZE = config.limits.max_body_bytes
    app.config.RESPONSE_TIMEOUT = config.limits.request_timeout + 30
    app.config.NOISY_EXCEPTIONS = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.ACCESS_LOG = False
    app.config.MOTD = False
    app.error_handler = _DialectErrorHandler()
    pm = plugins or build_plugin_manager(config)
    app.ctx.plugins = pm
    app.ctx.open_to_remote = open_to_remote
    app.ctx.runtimes = Runtimes(build_runtime(config, pm))
    app.add_route(dispatch, "/", methods=_METHODS, name="root")
    app.add_route(dispatch, "/<path:path>", methods=_METHODS, name="dispatch")

    @app.on_response
    async def _cors(request: Any, response: Any) -> None:
        """Browsers of allowed origins may read every answer, streamed ones included."""
        exposure = getattr(request.ctx, "exposure", None)
        if exposure is None or request.method == "OPTIONS":
            return
        for name, value in exposure.cors_headers(
            request.headers.get("origin"), preflight=False
        ).items():
            response.headers.setdefault(name, value)

    @app.before_server_start
    async def _start(app: Sanic) -> None:
        runtime: Runtime = app.ctx.runtimes.current
        await runtime.start()
        await notify(app.ctx.plugins.hook.gateway_startup, config=runtime.config)
        reloader = app.ctx.reloader = Reloader(app, reload_interval or 1.0)
        loop = asyncio.get_running_loop()
        app.ctx.background = set()

        def spawn(coro: Any) -> None:
            task = loop.create_task(coro)
            app.ctx.background.add(task)
            task.add_done_callback(app.ctx.background.discard)

        app.ctx.close_later = lambda sink: spawn(sink.close())
        if reload_interval:
            spawn(reloader.watch())
        _on_sighup(lambda: spawn(reloader.reload("SIGHUP")))

    @app.after_server_start
    async def _announce(app: Sanic) -> None:
        runtime: Runtime = app.ctx.runtimes.current
        log.info("serving %s on %s", runtime.config.source, app.serve_location)

    @app.after_server_stop
    async def _stop(app: Sanic) -> None:
        for task in list(app.ctx.background):
            task.cancel()
        await app.ctx.runtimes.current.close()
        await notify(app.ctx.plugins.hook.gateway_shutdown)

    return app


def _on_sighup(callback: Any) -> None:
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, callback)
    except (NotImplementedError, RuntimeError, ValueError):
        log.debug("SIGHUP cannot be handled here (not the main thread); file watching still works")


_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,
    404: NotFound,
    405: MethodNotAllowed,
    408: UpstreamTimeout,
    413: PayloadTooLarge,
    503: UpstreamTimeout,
}


class _DialectErrorHandler(ErrorHandler):
    """Errors Sanic raises before a handler runs (oversized bodies, bad HTTP) in dialect shape."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        exchange = getattr(request.ctx, "exchange", None) if request is not None else None
        if exchange is None:
            headers = request.headers if request is not None else {}
            path = getattr(request, "path", "")
            exchange = Exchange("-", getattr(request, "method", ""), path, headers, "")
            # The route's dialect decides the error's shape, also for methods Sanic refuses.
            route = request.app.ctx.runtimes.current.router.match(path) if request else None
            if route is not None:
                exchange.endpoint = route.endpoint
        if isinstance(exception, GatewayError):
            return error_response(exchange, exception)
        if isinstance(exception, SanicException):
            cls = _BY_STATUS.get(exception.status_code, GatewayError)
            message = str(exception)
            if cls is PayloadTooLarge:
                message = "The request body is larger than limits.max_body_bytes in routes.yaml."
            return error_response(exchange, cls(message))
        log.error("unhandled error", exc_info=exception)
        return error_response(exchange, GatewayError("Internal gateway error; see the log."))
