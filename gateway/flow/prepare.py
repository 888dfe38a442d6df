"""The request side of a completion: decode, transform, resolve. Shared by the server and
``gateway try``, so that what `try` shows is what the server does.

A route's dialect decodes the body into the IR; a custom route's request transforms build the
IR's JSON form from whatever the client sent. Request transforms run before the model is
resolved (a transform may choose the model); an HTTP upstream of the client's own dialect on a
route without transforms takes the body untouched instead (passthrough).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .. import ir
from ..config.routing import Facts, Plan
from ..dialects import COUNT_TOKENS, Dialect, anthropic_messages, openai_chat
from ..dialects.chat_shapes import shape_of
from ..errors import InvalidRequest, PermissionDenied, TransformFailed
from ..exchange import Exchange, Identity
from ..ir_json import request_from_json, request_to_json, response_from_json, response_to_json
from ..pipeline.transforms import TransformContext
from ..server.runtime import Runtime
from ..sinks.base import Sink
from .routes import Route

__all__ = ["Prepared", "for_target", "prepare", "refuse_model_not_allowed", "transform_response"]


@dataclass(slots=True)
class Prepared:
    plan: Plan
    #: The neutral request, its model set for each target tried; None when every target
    #: passes the body through untouched.
    request: ir.Request | None
    dialect: Dialect | None
    #: What the request transforms produced (shown by ``gateway try``).
    transformed: Any = None
    #: The route has no transforms: a sink of the client's own dialect may take the body.
    relayable: bool = True

    def passes_through(self, sink: Sink, endpoint: str, body: dict[str, Any]) -> bool:
        """Whether ``sink`` takes the body as it came, untouched."""
        return self.request is None or (self.relayable and _passes_through(sink, endpoint, body))


def refuse_model_not_allowed(exchange: Exchange, model: str) -> None:
    """A 403 when the caller's identity may not use ``model`` (a named key's ``models:``);
    every way in to a sink goes through :func:`gateway.flow.complete.complete`, which checks."""
    identity = exchange.identity
    if isinstance(identity, Identity) and not identity.allows_model(model):
        raise PermissionDenied(
            f"The key '{identity.key_name}' may not use the model '{model}'.",
            param="model",
            code="model_not_allowed",
        )


async def prepare(
    runtime: Runtime,
    route: Route,
    body: dict[str, Any],
    headers: Mapping[str, str],
    request_id: str,
    key_name: str | None = None,
) -> Prepared:
    config = route.config
    request_transforms = config.request_transforms if config else ()
    response_transforms = config.response_transforms if config else ()
    endpoint = route.endpoint.name
    dialect = route.endpoint.dialect
    facts = Facts(body, headers, key_name)
    plan = None  # the body's model, resolved to tell a passthrough
    if not request_transforms and not response_transforms:
        model = body.get("model") or (config.model if config else None)
        if not isinstance(model, str) or not model:
            raise InvalidRequest("model: field required (see GET /v1/models)", param="model")
        plan = runtime.resolve(model, route, facts)
        sinks = runtime.sinks
        for target in plan.targets:
            if not _passes_through(sinks[target.sink], endpoint, body):
                break
        else:
            return Prepared(plan, None, None)
    if endpoint == COUNT_TOKENS:
        if request_transforms or response_transforms:
            raise InvalidRequest(
                f"{route.path} counts tokens, which transforms cannot apply to: remove the "
                "route's transforms in routes.yaml"
            )
        request = anthropic_messages.decode_request(body, max_tokens_required=False)
        return Prepared(plan or runtime.resolve(request.model, route, facts), request, None)
    relayable = not request_transforms and not response_transforms
    if dialect is None:
        raise InvalidRequest(f"{route.path} ({endpoint}) cannot be served by this gateway.")
    transformed = None
    if endpoint == "custom":
        # A custom route's transforms turn the client's body into the IR's JSON form.
        context = TransformContext(route.path, "request", request_id, headers, body.get("model"))
        transformed = await runtime.pipeline.run(request_transforms, body, context)
        request = _from_transforms(transformed, route, config.model if config else None)
    else:
        request = dialect.decode_request(body)
        if request_transforms:
            context = TransformContext(route.path, "request", request_id, headers, request.model)
            transformed = await runtime.pipeline.run(
                request_transforms, request_to_json(request), context
            )
            request = _from_transforms(transformed, route, request.model)
        if response_transforms and request.stream:
            raise InvalidRequest(
                f"{route.path} transforms complete answers, so it cannot stream: send "
                '"stream": false',
                param="stream",
            )
    if plan is None or plan.requested != request.model:
        plan = runtime.resolve(request.model, route, facts)
    return Prepared(plan, request, dialect, transformed, relayable)


def for_target(
    prepared: Prepared, sink: Sink, route: Route, model: str
) -> tuple[ir.Request, list[str]]:
    """The neutral request as ``sink`` receives it (``model`` its name there), and the hosted
    tools the route lets go because that sink cannot run them."""
    request = prepared.request
    assert request is not None
    if len(prepared.plan.targets) > 1:  # each try gets its own: one may drop hosted tools
        request = replace(request, model=model)
    else:
        request.model = model
    return request, _unrunnable_hosted_tools(request, sink, route)


def _passes_through(sink: Sink, endpoint: str, body: dict[str, Any]) -> bool:
    if not sink.relays(endpoint):
        return False
    # A chat route also takes the Responses and Anthropic shapes: only its own shape reaches
    # an OpenAI Chat upstream untouched, the others are translated.
    return endpoint != openai_chat.NAME or shape_of(body) == openai_chat.NAME


def _unrunnable_hosted_tools(request: ir.Request, sink: Sink, route: Route) -> list[str]:
    """The hosted tools ``sink`` cannot run, taken out of ``request`` if the route drops them;
    refused otherwise."""
    unrunnable = [name for name in request.hosted_tools if not sink.runs_hosted_tool(name)]
    if not unrunnable:
        return []
    if route.config is None or route.config.hosted_tools != "drop":
        raise InvalidRequest(
            f"tools: the sink '{sink.name}' cannot run the hosted tool "
            f"{', '.join(unrunnable)}; remove it, use a route to the Anthropic API, or set "
            f"hosted_tools: drop on the route {route.path}",
            param="tools",
        )
    request.hosted_tools = [name for name in request.hosted_tools if name not in unrunnable]
    return unrunnable


def _from_transforms(payload: Any, route: Route, default_model: str | None) -> ir.Request:
    try:
        return request_from_json(payload, default_model=default_model)
    except InvalidRequest as exc:
        # The client's input passed the transforms' schemas: a bad result is the route's fault.
        raise TransformFailed(
            f"The request transforms of {route.path} produced an invalid request: {exc.message}"
        ) from None


async def transform_response(
    runtime: Runtime,
    route: Route,
    request_id: str,
    headers: Mapping[str, str],
    requested_model: str | None,
    request: ir.Request,
    response: ir.Response,
) -> Any:
    """The route's response transforms applied to ``response``: the IR response again on a
    standard route, any JSON on a custom one."""
    config = route.config
    assert config is not None
    context = TransformContext(
        route.path, "response", request_id, headers, requested_model, request_to_json(request)
    )
    payload = await runtime.pipeline.run(
        config.response_transforms, response_to_json(response), context
    )
    if route.endpoint.name == "custom":
        return payload
    try:
        return response_from_json(payload)
    except InvalidRequest as exc:
        raise TransformFailed(
            f"The response transforms of {route.path} produced an invalid response: {exc.message}"
        ) from None
