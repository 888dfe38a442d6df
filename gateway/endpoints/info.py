"""The GET endpoints: models, status, health and metrics; and the probe Claude Code sends
at start (``HEAD <base>/api/hello``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sanic.response import HTTPResponse

from .. import __version__
from ..errors import PermissionDenied
from ..exchange import Identity, sees_every_key
from ..flow.answers import json_response
from ..flow.endpoints import Call, Endpoint
from ..server.metrics import live_gauges, sink_numbers
from ..server.runtime import Runtime
from ..sinks.base import ModelEntry, Sink
from ..sinks.quota import Quota

__all__ = ["INFO_ENDPOINTS", "anthropic_model_list", "openai_model_list", "sink_states"]


def openai_model_list(models: list[ModelEntry], owner: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": m.created, "owned_by": owner} for m in models
        ],
    }


def anthropic_model_list(models: list[ModelEntry]) -> dict[str, Any]:
    data = [
        {
            "type": "model",
            "id": m.id,
            "display_name": m.display_name or m.id,
            "created_at": datetime.fromtimestamp(m.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for m in models
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


async def models(call: Call) -> HTTPResponse:
    """The models of the route's sink when it lists its backend's own (relayed untouched when
    the backend speaks the client's dialect), else the models routes.yaml declares."""
    request, runtime, route, exchange = call.request, call.runtime, call.route, call.exchange
    wants_anthropic = "anthropic-version" in request.headers
    exchange.endpoint = "anthropic.models" if wants_anthropic else "openai.models"
    sink = runtime.sinks.get(route.sink or "")
    entries = None
    if sink is not None:
        exchange.sink = sink.name
        if sink.relays(exchange.endpoint):
            answer = await sink.forward(
                exchange.endpoint, "GET", request.query_string, request.headers, b""
            )
            answer.close()
            return HTTPResponse(answer.body, status=answer.status, headers=answer.headers)
        entries = await sink.list_models()
    if entries is None:
        created = int(runtime.config.source.stat().st_mtime)
        listed = runtime.models.listed()
        identity = exchange.identity
        if isinstance(identity, Identity):  # a named key sees the models it may use
            listed = [(name, rule) for name, rule in listed if identity.allows_model(name)]
        entries = [ModelEntry(name, created, rule.description) for name, rule in listed]
    if wants_anthropic:
        return json_response(anthropic_model_list(entries))
    return json_response(openai_model_list(entries, "anthropic"))


async def status(call: Call) -> HTTPResponse:
    runtime, route = call.runtime, call.route
    names = [route.sink] if route.sink else list(runtime.sinks)
    paths = sorted(r.path for r in runtime.router if route.mount is None or r.mount == route.mount)
    sinks = sink_states(runtime, names)
    body = {
        "status": "ok" if all(s["ready"] for s in sinks.values()) else "not ready",
        "version": __version__,
        "config": str(runtime.config.source),
        "sinks": sinks,
        "targets": runtime.services.targets.snapshot(),
        "endpoints": paths,
    }
    if runtime.config.keys or runtime.config.state.url:
        keys = [key.name for key in runtime.config.keys]
        if not sees_every_key(call.exchange.identity):  # a key learns of no other key
            keys = [name for name in keys if name == call.exchange.key_name]
        limiter = runtime.services.limiter
        body["limits"] = dict(await limiter.status()) | {"keys": keys}
    return json_response(body)


def sink_states(runtime: Runtime, names: list[str]) -> dict[str, dict[str, Any]]:
    """What /status and /dashboard show of each sink: its own status, and whether it is ready."""
    states = {}
    for name in names:
        sink = runtime.sinks[name]
        problem = sink.readiness_problem()
        quota = sink.quota
        states[name] = sink.status() | {
            "ready": problem is None,
            "problem": problem,
            # The subscription's windows as the sink last heard (none with an API key).
            "subscription": None if quota is None else _subscription(sink, quota),
        }
    return states


def _subscription(sink: Sink, quota: Quota) -> dict[str, Any]:
    until = quota.limited_until(time.time(), allow_overage=sink.config.overage == "allow")
    return quota.to_json() | {"limited_until": until, "when_limited": sink.config.when_limited}


async def health(call: Call) -> HTTPResponse:
    return json_response({"status": "ok", "version": __version__})


async def hello(call: Call) -> HTTPResponse:
    """Claude Code's start-up probe of its base URL: answered, so that it finds the gateway
    there (a 404 is ignored, but shows in logs as a failure)."""
    return HTTPResponse(status=200)


async def no_icon(call: Call) -> HTTPResponse:
    """What browsers ask every site for on their own (an icon): no content, and being the
    browser's doing, not a client's, no row in the ledger and no error on the dashboard."""
    return HTTPResponse(status=204, headers={"cache-control": "max-age=86400"})


async def metrics(call: Call) -> HTTPResponse:
    """Prometheus text; its series count every key's requests, so only for whoever sees every
    key (docs/teams.md#roles)."""
    if not sees_every_key(call.exchange.identity):
        raise PermissionDenied(
            f"/metrics shows every key's usage; the key '{call.exchange.key_name}' is not an "
            "admin key. Scrape it with auth.token or a key with admin: true.",
            code="admin_only",
        )
    runtime = call.runtime
    text = runtime.services.metrics.render() + live_gauges(
        runtime.sinks.values(), runtime.services.targets.snapshot()
    )
    text += sink_numbers(runtime.sinks.values())
    return HTTPResponse(text, content_type="text/plain; version=0.0.4")


#: GET endpoints every gateway serves; models and status also under each mount.
INFO_ENDPOINTS = (
    Endpoint("models", models, methods=("GET",), paths=("/v1/models", "/models"),
             mounted_paths=("/v1/models", "/models"), listing=True),
    Endpoint("status", status, methods=("GET",), monitoring=True, paths=("/status",),
             mounted_paths=("/status",)),
    Endpoint("health", health, methods=("GET",), monitoring=True, authenticated=False,
             paths=("/health",)),
    Endpoint("metrics", metrics, methods=("GET",), monitoring=True, paths=("/metrics",)),
    Endpoint("browser", no_icon, methods=("GET", "HEAD"), monitoring=True, authenticated=False,
             paths=("/favicon.ico", "/apple-touch-icon.png", "/apple-touch-icon-precomposed.png")),
    Endpoint("hello", hello, methods=("HEAD", "GET"), monitoring=True, authenticated=False,
             paths=("/api/hello",), mounted_paths=("/api/hello",)),
)  # fmt: skip
