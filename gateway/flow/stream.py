"""Writing a sink's IR events to a client as SSE in its dialect."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

from sanic import Request

from .. import ir
from ..errors import GatewayError, UpstreamError, UpstreamTimeout
from ..exchange import Exchange
from .answers import StreamedAnswer, StreamFollower
from .deadline import Deadline

__all__ = ["SSE_HEADERS", "send_stream", "send_stream_error"]

log = logging.getLogger("gateway")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_NO_USAGE = ir.Usage()


async def send_stream(
    request: Request, answer: StreamedAnswer, exchange: Exchange, deadline: Deadline
) -> None:
    """Sends an opened stream as SSE in the client's dialect; a failure from here on is the
    dialect's in-band error event, and the stream is closed properly.

    The events of one read from the sink's backend go out in one write (measured with
    bench/run.py: 50-event bursts, a write per event took most of the CPU of a translated
    stream); nothing waits for more: a batch is written as soon as it is encoded.
    """
    try:
        await _send(request, answer, exchange, deadline)
    finally:
        answer.on_sent()
        if answer.follower is not None:
            answer.follower.ended()


async def _send(
    request: Request, answer: StreamedAnswer, exchange: Exchange, deadline: Deadline
) -> None:
    sink, encoder = answer.sink, answer.encoder
    async with aclosing(answer.batches) as batches:
        response = await request.respond(
            content_type="text/event-stream", headers=SSE_HEADERS | exchange.response_headers
        )
        exchange.status, exchange.first_byte = 200, time.perf_counter()
        try:
            async with deadline.scope():
                follower = answer.follower
                if not await _send_batch(response, encoder, exchange, answer.first, follower):
                    async for batch in batches:
                        if await _send_batch(response, encoder, exchange, batch, follower):
                            break  # the client has its answer; the sink cleans up after eof
                    else:
                        raise UpstreamError(
                            f"The answer from '{sink.name}' ended before it was complete"
                        )
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


async def _send_batch(
    response: Any,
    encoder: Any,
    exchange: Exchange,
    batch: list[ir.Event],
    follower: StreamFollower | None = None,
) -> bool:
    """Writes the events of ``batch`` in one write; True once the message is complete (then
    the encoder's ending goes in the same write, after the follower was told, and the events
    after it are dropped)."""
    chunks = []
    complete = False
    for event in batch:
        if isinstance(event, ir.MessageDelta):
            exchange.usage, exchange.cost_usd = event.usage, event.cost_usd
            exchange.finish_reason = event.stop_reason
        elif isinstance(event, ir.MessageStart):
            exchange.response_model = event.model or None
            if event.usage != _NO_USAGE:
                # The input tokens, known from the start: they count (key limits, budgets,
                # ledger) even when the client hangs up before the message's end.
                exchange.usage = event.usage
        chunks.append(encoder.encode(event))
        if isinstance(event, ir.MessageStop):
            chunks.append(encoder.end())
            complete = True
            break
    if complete and follower is not None:
        await follower.completed()
    data = b"".join(chunks)
    if data:
        await response.send(data)
    return complete


async def send_stream_error(
    response: Any, encode: Callable[[GatewayError], bytes], exchange: Exchange, error: GatewayError
) -> None:
    """A failure after the stream started: the dialect's in-band error event."""
    exchange.error_type = error.kind
    await response.send(encode(error))
