"""The Sink protocol: a backend that takes an IR request and produces IR events.

A sink never sees a Sanic request or a dialect: it speaks only ``gateway.ir``. Kinds are
registered through the ``gateway_register_sinks`` hook, the built-in ones included.

Beside :meth:`Sink.stream`, a sink may offer three capabilities, each with a default that says
"not offered": relaying bytes untouched to a backend of the client's own dialect
(:meth:`Sink.relays` and :meth:`Sink.forward`), listing the backend's models
(:meth:`Sink.list_models`) and counting tokens (:meth:`Sink.count_tokens`). The gateway uses
them through this class only, so a plugin sink offers them by overriding these methods. What it
reports of itself goes to ``/status`` and the dashboard (:meth:`Sink.status`) and to
``/metrics`` (:meth:`Sink.metrics`).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from .. import ir
from ..config import SinkConfig
from ..errors import InvalidRequest
from .quota import Quota

__all__ = ["DEFAULT_MAX_TOKENS", "ModelEntry", "RawAnswer", "Sink", "SinkMetric"]

#: ``max_tokens`` for requests that do not say, on every sink that speaks to Claude unless its
#: ``default_max_tokens`` says otherwise: the smallest output limit of the Claude 4 models and
#: later (Opus 4 and 4.1), so none of them refuses it, while long answers are not cut at a few
#: thousand tokens. (OpenAI-compatible upstreams need none: they get one only if configured.)
DEFAULT_MAX_TOKENS = 32000


@dataclass(frozen=True, slots=True)
class SinkMetric:
    """One number a sink shows on ``/metrics`` (:meth:`Sink.metrics`), exported as
    ``gateway_sink_<name>`` (``_total`` added to a counter) with the labels ``sink`` and
    ``labels``; read when ``/metrics`` is asked, from the worker that answers."""

    name: str
    help: str
    value: float
    kind: Literal["gauge", "counter"] = "gauge"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model of a backend's own list (``GET /v1/models`` through a sink)."""

    id: str
    created: int = 0  # Unix time; 0 when the backend does not say
    display_name: str | None = None


class RawAnswer(Protocol):
    """A backend's answer relayed as bytes: ``body`` when whole, :meth:`chunks` when it streams.

    :meth:`close` must be called (in a ``finally``): it frees what the answer holds (a
    connection, a concurrency slot) whether or not the body was read.
    """

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def streaming(self) -> bool: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Sink(abc.ABC):
    kind: ClassVar[str]
    #: The JSON Schema this kind's options must match (``kind`` included): a file name in
    #: gateway/schemas/, or, for a plugin's sink, the schema itself as a dict.
    options_schema: ClassVar[str | Mapping[str, Any]]
    #: Whether model names the gateway does not know are passed on for the backend to judge.
    forwards_unknown_models: ClassVar[bool] = False

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self.name = config.name
        #: The subscription's rate-limit windows as the backend last reported them (a CLI
        #: logged in with a subscription, an API answer's unified headers); None: never seen.
        self.quota: Quota | None = None

    @classmethod
    def personal_login(cls, options: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
        """Whether a sink of these options answers with one person's own login (a Claude
        subscription) rather than an API key: ``gateway serve`` warns when several named keys
        can reach one (docs/teams.md#whose-login-serves-whom). Not by default."""
        return False

    def saw_quota(self, quota: Quota | None) -> None:
        """Records what an answer reported of the windows (routing reads ``quota``)."""
        if quota is not None:
            self.quota = quota

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

    def metrics(self) -> list[SinkMetric]:
        """Numbers of this sink's own for ``/metrics`` (processes it keeps, say); none by
        default."""
        return []

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

    # --- optional capabilities ----------------------------------------------------------------

    def relays(self, endpoint: str) -> bool:
        """Whether a client speaking ``endpoint`` (``anthropic.messages``, ``openai.models``...)
        is relayed untouched by :meth:`forward`, on a route without transforms."""
        return False

    async def forward(
        self, endpoint: str, method: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> RawAnswer:
        """Relays one request of ``endpoint`` as bytes; only for endpoints :meth:`relays`."""
        raise NotImplementedError(f"the sink '{self.name}' relays nothing")

    def upstream_model(self, model: str) -> str:
        """The name a relayed request's model gets on the way to the backend."""
        return model

    def relayed_fields(self, endpoint: str, body: dict[str, Any], model: str) -> dict[str, Any]:
        """The body fields a relayed request gets on its way (by default the model's name, when
        :meth:`upstream_model` changes it): what :meth:`forward` is given, and what
        :meth:`describe_forward` shows."""
        upstream = self.upstream_model(model)
        return {} if upstream == body.get("model") else {"model": upstream}

    def describe_forward(self, endpoint: str, body: dict[str, Any], model: str) -> dict[str, Any]:
        """What :meth:`forward` would send (``gateway try``); changes nothing."""
        return {"sink": self.name, "kind": self.kind}

    async def list_models(self) -> list[ModelEntry] | None:
        """The backend's own models, or None to list the models of routes.yaml instead."""
        return None

    async def count_tokens(self, request: ir.Request) -> int:
        """The input tokens ``request`` would take (``/v1/messages/count_tokens``)."""
        raise InvalidRequest(
            f"The sink '{self.name}' ({self.kind}) cannot count tokens: route count_tokens to "
            "an HTTP upstream of the Anthropic API (the /api mount of the default routes.yaml)."
        )

    # --- the answer -----------------------------------------------------------------------------

    @abc.abstractmethod
    def stream(self, request: ir.Request) -> AsyncIterator[ir.Event]:
        """The answer as events, produced as the backend produces them.

        Everything that can fail before the answer starts (a refused request, a backend that
        cannot start) must fail before the first event is yielded, so that the client gets a
        proper HTTP error instead of an in-band one.
        """

    async def stream_batches(self, request: ir.Request) -> AsyncIterator[list[ir.Event]]:
        """The answer as lists of events, each list what one read from the backend completed.

        A relay writes each list to the client at once (one write, not one per event). By
        default every event is a list of its own; a sink that reads its backend in chunks
        overrides this. Lists are never empty; :meth:`stream` says what must fail early.
        """
        async with aclosing(self.stream(request)) as events:
            async for event in events:
                yield [event]

    async def complete(self, request: ir.Request) -> ir.Response:
        """The whole answer; by default, the stream folded into one response."""
        builder = ir.ResponseBuilder()
        async with aclosing(self.stream(request)) as events:
            async for event in events:
                builder.add(event)
        return builder.build()
