"""A custom route called with a JSON body from inside the gateway (an MCP tool call), not
over HTTP: the same request transforms, sink and response transforms as ``POST <path>``.

The answer is always whole (a ``"stream": true`` in the body only changes how HTTP answers);
``on_text`` sees the text as it is produced, which is what MCP progress notifications report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any

from .. import ir
from ..config.routing import Route
from ..errors import UpstreamTimeout
from ..exchange import Exchange
from ..ir_json import response_to_json
from ..server.runtime import Runtime
from .prepare import prepare, refuse_model_not_allowed, transform_response

__all__ = ["call_custom_route"]

TextListener = Callable[[str], Awaitable[None]]


async def call_custom_route(
    runtime: Runtime,
    route: Route,
    body: dict[str, Any],
    headers: Mapping[str, str],
    exchange: Exchange,
    on_text: TextListener | None = None,
) -> Any:
    """What ``POST route.path`` with ``body`` answers (a GatewayError when it would fail)."""
    prepared = await prepare(runtime, route, body, headers, exchange.id)
    request, sink, target = prepared.request, prepared.sink, prepared.target
    assert request is not None  # a custom route never passes bytes through
    exchange.model, exchange.target_model, exchange.sink = target.requested, target.model, sink.name
    refuse_model_not_allowed(runtime, exchange.key_name, target.requested)
    timeout = runtime.config.limits.request_timeout
    try:
        async with asyncio.timeout(timeout):
            if on_text is None:
                response = await sink.complete(request)
            else:
                response = await _followed(sink.stream(request), on_text)
    except TimeoutError:
        raise UpstreamTimeout(
            f"The sink '{sink.name}' did not answer within {timeout:g} s"
        ) from None
    exchange.usage, exchange.cost_usd = response.usage, response.cost_usd
    if route.config is None or not route.config.response_transforms:
        return response_to_json(response)
    return await transform_response(
        runtime, route, exchange.id, headers, target.requested, request, response
    )


async def _followed(events: Any, on_text: TextListener) -> ir.Response:
    builder = ir.ResponseBuilder()
    async with aclosing(events) as stream:
        async for event in stream:
            builder.add(event)
            if isinstance(event, ir.TextDelta) and event.text:
                await on_text(event.text)
    return builder.build()
