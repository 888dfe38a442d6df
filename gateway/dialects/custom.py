"""Custom routes: any JSON in, any JSON out, shaped by the route's transforms.

The request transforms turn the client's body into the IR's JSON form and the response
transforms turn the IR response's JSON form into the client's answer. A request whose IR has
``"stream": true`` is answered as SSE of text deltas instead (transforms do not apply to those):

    data: {"type": "delta", "text": "..."}           one per text fragment
    data: {"type": "done", "stop_reason": ..., "usage": {...}, "model": ...}
    data: {"type": "error", "error": {"type": ..., "message": ...}}   if it fails midway
"""

from __future__ import annotations

from .. import ir
from ..errors import GatewayError
from ..wire.anthropic import usage_from_ir
from ..wire.sse import sse_json
from .openai_chat_out import encode_error

__all__ = ["NAME", "StreamEncoder", "encode_error"]

NAME = "custom"


class StreamEncoder:
    def __init__(self, request: ir.Request) -> None:
        self._model = request.model
        self._end: ir.MessageDelta | None = None

    def encode(self, event: ir.Event) -> bytes:
        if isinstance(event, ir.TextDelta) and event.text:
            return sse_json({"type": "delta", "text": event.text})
        if isinstance(event, ir.MessageStart) and event.model:
            self._model = event.model
        elif isinstance(event, ir.MessageDelta):
            self._end = event
        return b""

    def end(self) -> bytes:
        end = self._end or ir.MessageDelta("end_turn")
        return sse_json(
            {
                "type": "done",
                "stop_reason": end.stop_reason,
                "usage": usage_from_ir(end.usage),
                "model": self._model,
            }
        )

    def error(self, error: GatewayError) -> bytes:
        return sse_json({"type": "error", "error": {"type": error.kind, "message": error.message}})
