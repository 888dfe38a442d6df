"""``gateway try``: the request side of a route, without calling its sink.

It decodes the body in the route's dialect, runs its request transforms, resolves the model and
shows the neutral request and the call the sink would make, so that a routes.yaml can be
debugged without spending a token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..config.routing import Plan
from ..dialects import error_encoder, openai_responses
from ..dialects import openai_responses_state as responses_state
from ..errors import GatewayError, InvalidRequest, RouteNotFound
from ..flow.auth import presented_token
from ..flow.prepare import for_target, prepare
from ..flow.routes import Route
from ..ir_json import request_to_json
from ..server.runtime import Runtime

__all__ = ["dry_run"]


async def dry_run(
    runtime: Runtime, path: str, body: Any, headers: Mapping[str, str]
) -> tuple[int, dict[str, Any]]:
    """(exit status, report): what ``path`` would do with ``body``."""
    route = runtime.router.match(path)
    try:
        if route is None:
            raise RouteNotFound(f"No route serves {path}")
        if not route.endpoint.calls_sink:
            raise InvalidRequest(
                f"{path} is {route.endpoint.name}, which calls no sink: `gateway try` shows what "
                "a completion or custom route would send (docs/mcp.md, docs/tools.md)."
            )
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        if route.endpoint.name == openai_responses.NAME:
            body = _without_state(body)
        return 0, await _plan(runtime, route, body, headers)
    except GatewayError as error:
        family = route.endpoint.family if route else None
        status, shape = error_encoder(family, headers)(error)
        return 1, {"error": {"status": status, "body": shape}}


def _without_state(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses body as the server hands it to the decoder, when it refers to nothing
    stored: `try` reads no response store."""
    references = responses_state.references(body)
    if references.previous_response_id is not None or references.required:
        raise InvalidRequest(
            "`gateway try` reads no stored responses: previous_response_id and item_reference "
            "items are expanded only when the gateway serves the request; try the body with "
            "the whole conversation in 'input'."
        )
    return responses_state.expand(body, [], {}).body


async def _plan(
    runtime: Runtime, route: Route, body: dict[str, Any], headers: Mapping[str, str]
) -> dict[str, Any]:
    prepared = await prepare(runtime, route, body, headers, "dry-run", _key_name(runtime, headers))
    plan = prepared.plan
    target = plan.primary
    sink = runtime.sinks[target.sink]
    report: dict[str, Any] = {"route": route.path, "dialect": route.endpoint.name}
    if prepared.transformed is not None:
        report["transformed"] = prepared.transformed
    report["model"] = {"requested": plan.requested, "target": target.model, "sink": sink.name}
    report["routing"] = _routing(runtime, plan)
    name = route.endpoint.name
    if prepared.passes_through(sink, name, body):
        report["passthrough"] = True
        report["sink_call"] = sink.describe_forward(name, body, target.model)
    else:
        request, _ = for_target(prepared, sink, route, target.model)
        report["request"] = request_to_json(request)
        report["sink_call"] = sink.describe(request)
    return report


def _routing(runtime: Runtime, plan: Plan) -> dict[str, Any]:
    """Which targets the request would get, in which order, and why."""
    health = runtime.services.targets.snapshot()
    why = f"rule '{plan.rule}' matched" if plan.rule else "the model's own targets"
    if len(plan.targets) > 1:
        why += f"; strategy {plan.strategy}"
    return {
        "why": why,
        "rule": plan.rule,
        "strategy": plan.strategy,
        "targets": [
            {"target": t.key, "sink": t.sink, "model": t.model, "weight": t.weight,
             "health": health.get(t.key, {}).get("state", "ok")}
            for t in plan.targets
        ],
        "retry": {"attempts": plan.retry.attempts, "on": sorted(plan.retry.on)},
        "fallback_on": sorted(plan.fallback_on),
    }  # fmt: skip


def _key_name(runtime: Runtime, headers: Mapping[str, str]) -> str | None:
    """The named key the headers present, for rules on ``key`` (no request is authenticated)."""
    token = presented_token(headers)
    key = runtime.config.keys.find(token) if token else None
    return key.name if key is not None else None


def format_report(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)
