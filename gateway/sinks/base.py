"""The Sink protocol: a backend that takes an IR request and produces IR events.

A sink never sees a Sanic request or a dialect: it speaks only ``gateway.ir``. Kinds are
registered through the ``gateway_register_sinks`` hook, the built-in ones included.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar

from .. import ir
from ..config import SinkConfig

__all__ = ["DEFAULT_MAX_TOKENS", "Sink"]

#: ``max_tokens`` for requests that do not say, on every sink that speaks to Claude unless its
#: ``default_max_tokens`` says otherwise: the smallest output limit of the Claude 4 models and
#: later (Opus 4 and 4.1), so none of them refuses it, while long answers are not cut at a few
#: thousand tokens. (OpenAI-compatible upstreams need none: they get one only if configured.)
DEFAULT_MAX_TOKENS = 32000


class Sink(abc.ABC):
    kind: ClassVar[str]
    #: The JSON Schema file (in gateway/schemas/) that this kind's options must match.
    options_schema: ClassVar[str]
    #: Whether model names the gateway does not know are passed on for the backend to judge.
    forwards_unknown_models: ClassVar[bool] = False

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self.name = config.name

    @property
    def options(self) -> Mapping[str, Any]:
        return self.config.options

    async def start(self) -> None:  # noqa: B027 (optional for sinks)
        """Opens clients and checks the backend; runs once, on the server's event loop."""

    async def close(self) -> None:  # noqa: B027 (optional for sinks)
        """Releases everything ``start`` opened."""

    def status(self) -> dict[str, Any]:
        """What ``/status`` reports about this sink."""
        return {"name": self.name, "kind": self.kind}

    def readiness_problem(self) -> str | None:
        """Why the sink cannot serve now (no binary, no login, missing credentials), or None.

        ``/status`` and the start-up log report it; requests still try, and fail with the
        sink's own clear error."""
        return None

    def runs_hosted_tool(self, name: str) -> bool:
        """Whether the backend runs the hosted tool ``name`` (``web_search``) itself."""
        return False

    def describe(self, request: ir.Request) -> dict[str, Any]:
        """The call this sink would make for ``request`` (``gateway try``); changes nothing."""
        return {"sink": self.name, "kind": self.kind}

    @abc.abstractmethod
    def stream(self, request: ir.Request) -> AsyncIterator[ir.Event]:
        """The answer as events, produced as the backend produces them.

        Everything that can fail before the answer starts (a refused request, a backend that
        cannot start) must fail before the first event is yielded, so that the client gets a
        proper HTTP error instead of an in-band one.
        """

    async def complete(self, request: ir.Request) -> ir.Response:
        """The whole answer; by default, the stream folded into one response."""
        builder = ir.ResponseBuilder()
        async with aclosing(self.stream(request)) as events:
            async for event in events:
                builder.add(event)
        return builder.build()
