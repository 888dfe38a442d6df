"""Writing a sink's IR events to a client as SSE in its dialect."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

from sanic import Request

from . import ir
from .errors import GatewayError, UpstreamError, UpstreamTimeout
from .exchange import Exchange
from .sinks.base import Sink

__all__ = ["SSE_HEADERS", "send_stream_error", "stream_events"]

log = logging.getLogger("gateway")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def stream_events(
    request: Request,
    sink: Sink,
    dialect: Any,
    ir_request: ir.Request,
    exchange: Exchange,
    timeout: float,
) -> None:
    """Streams a sink's events; the status is decided by the first event, not before it."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with aclosing(sink.stream(ir_request)) as events:
        try:
            async with asyncio.timeout_at(deadline):
                first = await anext(events)
        except StopAsyncIteration:
            raise UpstreamError(f"The sink '{sink.name}' ended without an answer") from None
        except TimeoutError:
            raise UpstreamTimeout(
                f"The sink '{sink.name}' did not start answering in time"
            ) from None
        encoder = dialect.stream_encoder(ir_request)
        response = await request.respond(
            content_type="text/event-stream", headers=SSE_HEADERS | exchange.response_headers
        )
        exchange.status, exchange.first_byte = 200, time.perf_counter()
        try:
            async with asyncio.timeout_at(deadline):
                await response.send(encoder.encode(first))
                async for event in events:
                    if isinstance(event, ir.MessageDelta):
                        exchange.usage, exchange.cost_usd = event.usage, event.cost_usd
                    chunk = encoder.encode(event)
                    if chunk:
                        await response.send(chunk)
                    if isinstance(event, ir.MessageStop):
                        break  # the client has its answer; the sink cleans up after eof
                else:
                    raise UpstreamError(
                        f"The answer from '{sink.name}' ended before it was complete"
                    )
            await response.send(encoder.end())
        except TimeoutError:
            await send_stream_error(
                response, encoder.error, exchange, UpstreamTimeout("The answer took too long")
            )
        except GatewayError as error:
            await send_stream_error(response, encoder.error, exchange, error)
        except Exception:
            log.exception("stream %s failed inside the gateway", exchange.id)
            await send_stream_error(
                response, encoder.error, exchange, GatewayError("Internal gateway error")
            )
        await response.eof()
        exchange.complete = True
    return None


async def send_stream_error(
    response: Any, encode: Callable[[GatewayError], bytes], exchange: Exchange, error: GatewayError
) -> None:
    """A failure after the stream started: the dialect's in-band error event."""
    exchange.error_type = error.kind
    await response.send(encode(error))
