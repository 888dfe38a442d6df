"""``gateway try``: the request side of a route, without calling its sink.

It decodes the body in the route's dialect, runs its request transforms, resolves the model and
shows the neutral request and the call the sink would make, so that a routes.yaml can be
debugged without spending a token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .dialects import DIALECTS, error_encoder
from .errors import GatewayError, InvalidRequest, RouteNotFound
from .ir_json import request_from_json, request_to_json
from .pipeline import TransformContext
from .routing import Route
from .runtime import Runtime
from .sinks.http import HttpSink

__all__ = ["dry_run"]


async def dry_run(
    runtime: Runtime, path: str, body: Any, headers: Mapping[str, str]
) -> tuple[int, dict[str, Any]]:
    """(exit status, report): what ``path`` would do with ``body``."""
    route = runtime.router.match(path)
    try:
        if route is None:
            raise RouteNotFound(f"No route serves {path}")
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        return 0, await _plan(runtime, route, body, headers)
    except GatewayError as error:
        status, shape = error_encoder(route.endpoint if route else None, headers)(error)
        return 1, {"error": {"status": status, "body": shape}}


async def _plan(
    runtime: Runtime, route: Route, body: dict[str, Any], headers: Mapping[str, str]
) -> dict[str, Any]:
    config = route.config
    report: dict[str, Any] = {"route": route.path, "dialect": route.endpoint}
    transforms = config is not None and bool(config.request_transforms)
    if route.endpoint == "custom" or transforms:
        assert config is not None
        context = TransformContext(route.path, "request", "dry-run", headers, body.get("model"))
        if route.endpoint == "custom":
            payload = body
        else:
            payload = request_to_json(DIALECTS[route.endpoint].decode_request(body))
        payload = await runtime.pipeline.run(config.request_transforms, payload, context)
        report["transformed"] = payload
        request = request_from_json(payload, default_model=config.model)
    elif route.endpoint in DIALECTS:
        request = DIALECTS[route.endpoint].decode_request(body)
    else:
        raise InvalidRequest(f"{route.path} has no dialect that `gateway try` can decode")
    target = runtime.resolve(request.model, route)
    request.model = target.model
    sink = runtime.sinks[target.sink]
    report["model"] = {"requested": target.requested, "target": target.model, "sink": sink.name}
    if isinstance(sink, HttpSink) and sink.passes_through(route.endpoint) and not transforms:
        report["passthrough"] = True
    report["request"] = request_to_json(request)
    report["sink_call"] = sink.describe(request)
    return report


def format_report(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)
