"""The GET endpoints: models, status, health and metrics."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from . import __version__
from .errors import UpstreamError
from .exchange import Exchange
from .routing import Route
from .runtime import Runtime
from .sinks.http import HttpSink

__all__ = ["INFO_ENDPOINTS", "anthropic_model_list", "json_response", "openai_model_list"]

_JSON = "application/json"

Endpoint = Callable[[Request, Runtime, Route, Exchange], Awaitable[HTTPResponse]]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return HTTPResponse(data, status=status, headers=headers, content_type=_JSON)


def openai_model_list(models: list[tuple[str, int, str]]) -> dict[str, Any]:
    """``(id, created unix time, owner)`` triples in the OpenAI list shape."""
    return {
        "object": "list",
        "data": [
            {"id": id_, "object": "model", "created": created, "owned_by": owner}
            for id_, created, owner in models
        ],
    }


def anthropic_model_list(models: list[tuple[str, int, str]]) -> dict[str, Any]:
    data = [
        {
            "type": "model",
            "id": id_,
            "display_name": name,
            "created_at": datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for id_, created, name in models
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


async def models(
    request: Request, runtime: Runtime, route: Route, exchange: Exchange
) -> HTTPResponse:
    wants_anthropic = "anthropic-version" in request.headers
    exchange.endpoint = "anthropic.models" if wants_anthropic else "openai.models"
    sink = runtime.sinks.get(route.sink or "")
    if isinstance(sink, HttpSink):
        exchange.sink = sink.name
        return await _upstream_models(request, sink, wants_anthropic)
    created = int(runtime.config.source.stat().st_mtime)
    listed = runtime.router.models.listed()
    if wants_anthropic:
        entries = [(name, created, rule.description or name) for name, rule in listed]
        return json_response(anthropic_model_list(entries))
    return json_response(openai_model_list([(name, created, "anthropic") for name, _ in listed]))


async def _upstream_models(request: Request, sink: HttpSink, wants_anthropic: bool) -> HTTPResponse:
    """The upstream's own model list: relayed as is, or converted to the client's shape."""
    answer = await sink.forward("models", "GET", request.query_string, request.headers, b"")
    answer.close()
    same_shape = wants_anthropic == (sink.dialect == "anthropic.messages")
    if same_shape or answer.status >= 400:
        return HTTPResponse(answer.body, status=answer.status, headers=answer.headers)
    try:
        data = json.loads(answer.body)["data"]
        if sink.dialect == "anthropic.messages":
            entries = [(m["id"], _timestamp(m.get("created_at")), "anthropic") for m in data]
            return json_response(openai_model_list(entries))
        entries = [(m["id"], int(m.get("created") or 0), m["id"]) for m in data]
        return json_response(anthropic_model_list(entries))
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamError(
            f"The upstream '{sink.name}' sent a model list the gateway cannot read: {exc!r}"
        ) from exc


def _timestamp(value: Any) -> int:
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


async def status(
    request: Request, runtime: Runtime, route: Route, exchange: Exchange
) -> HTTPResponse:
    names = [route.sink] if route.sink else list(runtime.sinks)
    paths = sorted(r.path for r in runtime.router if route.mount is None or r.mount == route.mount)
    sinks = {}
    for name in names:
        problem = runtime.sinks[name].readiness_problem()
        sinks[name] = runtime.sinks[name].status() | {"ready": problem is None, "problem": problem}
    return json_response(
        {
            "status": "ok" if all(s["ready"] for s in sinks.values()) else "not ready",
            "version": __version__,
            "config": str(runtime.config.source),
            "sinks": sinks,
            "endpoints": paths,
        }
    )


async def health(
    request: Request, runtime: Runtime, route: Route, exchange: Exchange
) -> HTTPResponse:
    return json_response({"status": "ok", "version": __version__})


async def metrics(
    request: Request, runtime: Runtime, route: Route, exchange: Exchange
) -> HTTPResponse:
    plugin = request.app.ctx.plugins.get_plugin("gateway.builtin.Metrics")
    text = plugin.render() if plugin is not None else ""
    return HTTPResponse(text, content_type="text/plain; version=0.0.4")


INFO_ENDPOINTS: dict[str, Endpoint] = {
    "models": models,
    "status": status,
    "health": health,
    "metrics": metrics,
}
