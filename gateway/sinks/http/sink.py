"""``kind: http``: an upstream HTTP API (Anthropic Messages or OpenAI Chat), with header injection.

Two paths. When the client already speaks the upstream's dialect and the route has no
transforms, :meth:`HttpSink.forward` relays bytes both ways untouched (only headers change;
forwarding.py). Otherwise :meth:`HttpSink.stream` and :meth:`HttpSink.complete` translate
through the IR. Both share one :class:`UpstreamConnection` (connection.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import aiohttp

from ... import ir
from ...errors import GatewayError, InvalidRequest, UpstreamError, error_from_upstream_body
from ...redaction import shown_url
from ...wire.json_codec import dumps, loads
from ...wire.openai import stream_options_asking_usage
from ...wire.sse import SSEDecoder
from ..base import DEFAULT_MAX_TOKENS, ModelEntry, Sink
from ..concurrency import ConcurrencyLimiter
from ..quota import Quota, limited_error
from . import anthropic_upstream as upstream_anthropic
from . import openai_upstream as upstream_openai
from .connection import UpstreamConnection
from .forwarding import RawResponse, forward

__all__ = ["HttpSink", "RawResponse"]

# Per upstream dialect, the client endpoints relayed untouched, and where each goes.
_UPSTREAM_PATHS = {
    "anthropic.messages": {
        "anthropic.messages": "/v1/messages",
        "anthropic.count_tokens": "/v1/messages/count_tokens",
        "anthropic.models": "/v1/models",
    },
    "openai.chat": {"openai.chat": "/chat/completions", "openai.models": "/models"},
}
_MODELS_ENDPOINT = {"anthropic.messages": "anthropic.models", "openai.chat": "openai.models"}
_CODECS = {"anthropic.messages": upstream_anthropic, "openai.chat": upstream_openai}
# How long the end of a stream's body may take after its message ended (see _read_to_end).
_DRAIN_TIMEOUT = 1.0


class HttpSink(Sink):
    kind = "http"
    options_schema = "sinks/http.schema.json"
    forwards_unknown_models = True

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        options = self.options
        self.dialect: str = options["dialect"]
        self.base_url: str = options["base_url"].rstrip("/")
        self._codec = _CODECS[self.dialect]
        headers = {k.lower(): v for k, v in options.get("headers", {}).items() if v}
        if self.dialect == "anthropic.messages":
            headers.setdefault("anthropic-version", "2023-06-01")
        self._missing_env = sorted(
            {
                name
                for path, names in config.unset_env.items()
                if path[0] == "headers"
                for name in names
            }
        )
        self._upstream = UpstreamConnection(
            self.name, self.base_url, headers, self._missing_env, options
        )
        self._model_map: Mapping[str, str] = options.get("model_map", {})
        # Claude's API requires max_tokens; an OpenAI-compatible one has its own default.
        self._default_max_tokens: int | None = options.get(
            "default_max_tokens",
            DEFAULT_MAX_TOKENS if self.dialect == "anthropic.messages" else None,
        )

    @property
    def limiter(self) -> ConcurrencyLimiter | None:
        return self._upstream.limiter

    async def start(self) -> None:
        await self._upstream.start()

    async def close(self) -> None:
        await self._upstream.close()

    def status(self) -> dict[str, Any]:
        status = super().status() | {"base_url": shown_url(self.base_url), "dialect": self.dialect}
        if self.limiter is not None:
            status["requests"] = self.limiter.status()
        if self._missing_env:
            status["missing_env"] = self._missing_env
        return status

    def readiness_problem(self) -> str | None:
        if self._missing_env:
            return f"set {' and '.join(self._missing_env)} in the gateway's environment"
        return None

    def runs_hosted_tool(self, name: str) -> bool:
        return self.dialect == "anthropic.messages" and name in upstream_anthropic.SERVER_TOOLS

    def upstream_model(self, model: str) -> str:
        return self._model_map.get(model, model)

    def relays(self, endpoint: str) -> bool:
        return endpoint in _UPSTREAM_PATHS[self.dialect]

    def describe(self, request: ir.Request) -> dict[str, Any]:
        upstream = replace(request, model=self.upstream_model(request.model))
        return super().describe(request) | {
            "method": "POST",
            "url": shown_url(self.base_url) + _UPSTREAM_PATHS[self.dialect][self.dialect],
            "headers": self._upstream.shown_headers(),
            "missing_env": self._missing_env,
            "body": self._codec.encode_request(
                upstream, default_max_tokens=self._default_max_tokens
            ),
        }

    def relayed_fields(self, endpoint: str, body: dict[str, Any], model: str) -> dict[str, Any]:
        fields = super().relayed_fields(endpoint, body, model)
        if endpoint == "openai.chat":
            asked = stream_options_asking_usage(body)
            if asked is not None:  # the relay leaves the usage chunk out for the client
                fields["stream_options"] = asked
        return fields

    def describe_forward(self, endpoint: str, body: dict[str, Any], model: str) -> dict[str, Any]:
        return super().describe_forward(endpoint, body, model) | {
            "method": "POST",
            "url": shown_url(self.base_url) + _UPSTREAM_PATHS[self.dialect][endpoint],
            "headers": self._upstream.shown_headers(),
            "missing_env": self._missing_env,
            "body": {**body, **self.relayed_fields(endpoint, body, model)},
        }

    # --- untouched relay ---------------------------------------------------------------------

    async def forward(
        self,
        endpoint: str,
        method: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> RawResponse:
        """Relays one request; streams the answer back when the upstream streams it."""
        url = self.base_url + _UPSTREAM_PATHS[self.dialect][endpoint]
        if query:
            url += "?" + query
        answer = await forward(self._upstream, method, url, headers, body)
        self._record_quota(answer.upstream_headers)  # any case: aiohttp's own mapping
        return answer

    async def list_models(self) -> list[ModelEntry]:
        answer = await self.forward(_MODELS_ENDPOINT[self.dialect], "GET", "", {}, b"")
        answer.close()
        if answer.status >= 400:
            raise error_from_upstream_body(answer.status, answer.body)
        try:
            return self._codec.model_entries(loads(answer.body))
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(
                f"The upstream '{self.name}' sent a model list the gateway cannot read: {exc!r}"
            ) from exc

    async def count_tokens(self, request: ir.Request) -> int:
        if self.dialect != "anthropic.messages":
            return await super().count_tokens(request)
        body = self._codec.encode_request(
            replace(request, model=self.upstream_model(request.model)), default_max_tokens=None
        )
        body.pop("max_tokens", None)
        body.pop("stream", None)
        headers = {"content-type": "application/json"}
        raw = dumps(body)
        answer = await self.forward("anthropic.count_tokens", "POST", "", headers, raw)
        answer.close()
        if answer.status >= 400:
            raise error_from_upstream_body(answer.status, answer.body)
        try:
            return int(loads(answer.body)["input_tokens"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(
                f"The upstream '{self.name}' sent a token count the gateway cannot read: {exc!r}"
            ) from exc

    # --- translation through the IR ----------------------------------------------------------

    async def complete(self, request: ir.Request) -> ir.Response:
        await self._upstream.acquire()
        try:
            response = await self._post(request, stream=False)
            try:
                raw = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise self._upstream.transport_error(exc) from exc
            finally:
                response.release()
        finally:
            self._upstream.release()
        try:
            body = loads(raw)
        except ValueError:
            raise UpstreamError(f"The upstream '{self.name}' answered with invalid JSON") from None
        return self._codec.decode_response(body)

    async def stream(self, request: ir.Request) -> AsyncIterator[ir.Event]:
        async with aclosing(self.stream_batches(request)) as batches:
            async for batch in batches:
                for event in batch:
                    yield event

    async def stream_batches(self, request: ir.Request) -> AsyncIterator[list[ir.Event]]:
        """The events of each read from the upstream, as they arrive (never an empty list)."""
        await self._upstream.acquire()
        try:
            async with aclosing(self._stream(request)) as batches:
                async for batch in batches:
                    yield batch
        finally:
            self._upstream.release()

    async def _stream(self, request: ir.Request) -> AsyncIterator[list[ir.Event]]:
        response = await self._post(request, stream=True)
        reader = _EventReader(self._codec.StreamDecoder(), self.name)
        try:
            async for chunk in response.content.iter_any():
                batch = reader.read(chunk)
                if batch:
                    yield batch
                reader.raise_failure()
            batch = reader.finish()
            if batch:
                yield batch
            reader.raise_failure()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._upstream.transport_error(exc) from exc
        finally:
            try:
                if reader.complete:
                    await _read_to_end(response)
            finally:
                response.release()

    async def _post(self, request: ir.Request, *, stream: bool) -> aiohttp.ClientResponse:
        if request.extra and request.extra_dialect != self.dialect:
            raise InvalidRequest(
                f"These options need an upstream that speaks {request.extra_dialect}: "
                + ", ".join(sorted(request.extra))
            )
        model = self.upstream_model(request.model)
        if stream != request.stream or model != request.model:  # a copy costs ~10 us
            request = replace(request, stream=stream, model=model)
        body = self._codec.encode_request(request, default_max_tokens=self._default_max_tokens)
        headers = {**self._upstream.auth_headers(), "content-type": "application/json"}
        url = self.base_url + _UPSTREAM_PATHS[self.dialect][self.dialect]
        response = await self._upstream.send("POST", url, headers, dumps(body))
        quota = self._record_quota(response.headers)
        if response.status >= 400:
            try:
                raw = await response.read()
            finally:
                response.release()
            if response.status == 429 and quota is not None and quota.status == "rejected":
                raise limited_error(self.name, quota)
            raise error_from_upstream_body(response.status, raw, response.headers)
        return response

    def _record_quota(self, headers: Mapping[str, str]) -> Quota | None:
        """An Anthropic upstream's subscription windows (none come with an API key)."""
        if self.dialect != "anthropic.messages":
            return None
        quota = Quota.from_headers(headers)
        self.saw_quota(quota)
        return quota


async def _read_to_end(response: aiohttp.ClientResponse) -> None:
    """Reads what follows the end of the message (the chunked body's last chunk), so that the
    connection goes back to the pool: aiohttp closes one released before its body ended, and
    a new connection per stream cost more than the rest of the relay (bench/run.py, c=32)."""
    try:
        async with asyncio.timeout(_DRAIN_TIMEOUT):
            while await response.content.readany():
                pass
    except (aiohttp.ClientError, TimeoutError):
        pass  # the connection is closed on release, as it would have been


class _EventReader:
    """Bytes of an upstream stream in, the IR events they complete out, one list per read.

    A read that fails halfway (an ``error`` event after some deltas, a line that is not JSON)
    still hands out the events before the failure; :meth:`raise_failure` raises it next, so the
    client gets them, in order, before the in-band error.
    """

    def __init__(self, decoder: Any, name: str) -> None:
        self._decoder = decoder
        self._sse = SSEDecoder()
        self._name = name
        self._failure: BaseException | None = None
        #: Whether the message ended (its MessageStop was read).
        self.complete = False

    def read(self, chunk: bytes) -> list[ir.Event]:
        events: list[ir.Event] = []
        try:
            for sse in self._sse.decode(chunk):
                events += self._decoder.decode(sse)
        except (ValueError, KeyError, GatewayError) as exc:
            self._failed(exc)
        if events and isinstance(events[-1], ir.MessageStop):
            self.complete = True
        return events

    def finish(self) -> list[ir.Event]:
        """The events of a last line without its blank line, and what the decoder held back."""
        events: list[ir.Event] = []
        try:
            for sse in self._sse.flush():
                events += self._decoder.decode(sse)
            if hasattr(self._decoder, "finish"):
                events += self._decoder.finish()
        except (ValueError, KeyError, GatewayError) as exc:
            self._failed(exc)
        return events

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, GatewayError):  # the upstream's own in-band error
            self._failure = exc
            return
        self._failure = UpstreamError(
            f"The upstream '{self._name}' sent a stream the gateway cannot read: {exc!r}"
        )
        self._failure.__cause__ = exc
