"""What an endpoint answers: JSON as every endpoint sends it, and the three kinds of opened
completion answer (whole, streamed, relayed) that the senders write out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sanic.response import HTTPResponse

from .. import ir
from ..dialects import StreamEncoder
from ..sinks.base import RawAnswer, Sink
from ..wire.json_codec import dumps

__all__ = [
    "Answer",
    "RelayedAnswer",
    "StreamFollower",
    "StreamedAnswer",
    "WholeAnswer",
    "json_response",
]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    # orjson: the same bytes as compact json.dumps without ASCII escapes (wire/json_codec.py)
    return HTTPResponse(
        dumps(body), status=status, headers=headers, content_type="application/json"
    )


def _nothing() -> None:
    pass


@dataclass(slots=True)
class WholeAnswer:
    """The whole answer, in the client's dialect (or the route's transforms' shape)."""

    body: Any
    #: Called once the answer has been sent (routing counts its target's requests in flight).
    on_sent: Callable[[], None] = _nothing


class StreamFollower(Protocol):
    """Told how a stream ends, without holding it up (the Responses endpoint stores its
    response so)."""

    async def completed(self) -> None:
        """The answer is complete: awaited before its last write, so that what the client does
        on reading it (continue the stored response, say) finds it done."""

    def ended(self) -> None:
        """The stream ended, complete or not (failed, or abandoned by the client). Must not
        block: nothing is awaited."""


@dataclass(slots=True)
class StreamedAnswer:
    """A stream whose first events have arrived; the rest follows from ``batches``."""

    sink: Sink
    first: list[ir.Event]
    batches: AsyncIterator[list[ir.Event]]
    encoder: StreamEncoder
    on_sent: Callable[[], None] = _nothing
    follower: StreamFollower | None = None


@dataclass(slots=True)
class RelayedAnswer:
    """An upstream's answer to bytes relayed in the client's own dialect."""

    sink: Sink
    answer: RawAnswer
    #: The sink asked the upstream for a stream's usage the client did not ask for.
    strip_usage: bool
    anthropic: bool
    on_sent: Callable[[], None] = _nothing


Answer = WholeAnswer | StreamedAnswer | RelayedAnswer
