"""``kind: http``: an upstream HTTP API (Anthropic Messages or OpenAI Chat), with header injection.

Two paths. When the client already speaks the upstream's dialect and the route has no
transforms, :meth:`HttpSink.forward` relays bytes both ways untouched (only headers change).
Otherwise :meth:`HttpSink.stream` and :meth:`HttpSink.complete` translate through the IR.

The client is aiohttp: measured by bench/compare_clients.py, httpx's default pool served a
small fraction of aiohttp's requests/s at 32 concurrent clients (see README, "Performance").
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import aiohttp

from .. import ir
from ..errors import (
    GatewayError,
    InvalidRequest,
    SinkUnavailable,
    UpstreamError,
    UpstreamTimeout,
    error_from_upstream_body,
)
from ..wire.sse import SSEDecoder
from . import upstream_anthropic, upstream_openai
from .base import DEFAULT_MAX_TOKENS, ModelEntry, Sink
from .limiter import ConcurrencyLimiter

__all__ = ["HttpSink", "RawResponse"]

# Never forwarded in either direction: they describe one hop, not the message.
_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
        "accept-encoding", "content-encoding",
    }
)  # fmt: skip
# The client's credentials are for the gateway; the upstream gets the configured ones.
_CLIENT_CREDENTIALS = frozenset({"authorization", "x-api-key", "api-key", "cookie"})
_DROP_REQUEST = _HOP_BY_HOP | _CLIENT_CREDENTIALS
_SECRET_HEADERS = _CLIENT_CREDENTIALS | {"x-goog-api-key", "proxy-authorization"}
_DROP_RESPONSE = _HOP_BY_HOP | {"set-cookie"}

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
# What no header may carry on the way out: control characters, and the bytes that were not
# UTF-8, which Sanic keeps as lone surrogates (aiohttp refuses both, as it should).
_UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f\udc80-\udcff]")


def _relayed_request_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers that go on to the upstream; a 400 for one that cannot be sent."""
    outgoing = {}
    for name, value in headers.items():
        if name.lower() in _DROP_REQUEST:
            continue
        if _UNSENDABLE.search(name) or _UNSENDABLE.search(value):
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise InvalidRequest(
                f"The header {shown} holds a control character or bytes that are not UTF-8, "
                "so it cannot be relayed to the upstream",
                param=shown,
            )
        outgoing[name] = value
    return outgoing


class RawResponse:
    """An upstream answer relayed as bytes (a :class:`~gateway.sinks.base.RawAnswer`)."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        *,
        body: bytes = b"",
        stream: aiohttp.ClientResponse | None = None,
        on_close: Callable[[], None] = lambda: None,
        on_error: Callable[[BaseException], GatewayError] | None = None,
    ) -> None:
        self.status, self.headers, self.body = status, headers, body
        self._stream, self._on_close, self._on_error = stream, on_close, on_error
        self._closed = False

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    async def chunks(self) -> AsyncIterator[bytes]:
        assert self._stream is not None and self._on_error is not None
        try:
            async for chunk in self._stream.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._on_error(exc) from exc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._stream is not None:
                self._stream.release()
            self._on_close()


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
        self._headers = {k.lower(): v for k, v in options.get("headers", {}).items() if v}
        if self.dialect == "anthropic.messages":
            self._headers.setdefault("anthropic-version", "2023-06-01")
        self._missing_env = sorted(
            {
                name
                for path, names in config.unset_env.items()
                if path[0] == "headers"
                for name in names
            }
        )
        self._model_map: Mapping[str, str] = options.get("model_map", {})
        # Claude's API requires max_tokens; an OpenAI-compatible one has its own default.
        self._default_max_tokens: int | None = options.get(
            "default_max_tokens",
            DEFAULT_MAX_TOKENS if self.dialect == "anthropic.messages" else None,
        )
        timeout = options.get("timeout", {})
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout.get("connect", 10), sock_read=timeout.get("read", 600)
        )
        self._max_connections: int = options.get("max_connections", 1024)
        self.limiter: ConcurrencyLimiter | None = None
        if "max_concurrency" in options:
            self.limiter = ConcurrencyLimiter(
                options["max_concurrency"], options.get("max_queue", 64),
                options.get("queue_timeout", 30.0),
            )  # fmt: skip
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=0, keepalive_timeout=30
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def status(self) -> dict[str, Any]:
        status = super().status() | {"base_url": self.base_url, "dialect": self.dialect}
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
            "url": self.base_url + _UPSTREAM_PATHS[self.dialect][self.dialect],
            "headers": self._shown_headers(),
            "missing_env": self._missing_env,
            "body": self._codec.encode_request(
                upstream, default_max_tokens=self._default_max_tokens
            ),
        }

    def describe_forward(self, endpoint: str, body: dict[str, Any], model: str) -> dict[str, Any]:
        upstream_model = self.upstream_model(model)
        return super().describe_forward(endpoint, body, model) | {
            "method": "POST",
            "url": self.base_url + _UPSTREAM_PATHS[self.dialect][endpoint],
            "headers": self._shown_headers(),
            "missing_env": self._missing_env,
            "body": body
            if upstream_model == body.get("model")
            else {**body, "model": upstream_model},
        }

    def _shown_headers(self) -> dict[str, str]:
        return {k: "<redacted>" if k in _SECRET_HEADERS else v for k, v in self._headers.items()}

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
        outgoing = _relayed_request_headers(headers)
        outgoing.update(self._auth_headers())
        outgoing["accept-encoding"] = "identity"
        await self._acquire()
        try:
            response = await self._send(method, url, outgoing, body)
        except BaseException:
            self._release()
            raise
        relayed = {k: v for k, v in response.headers.items() if k.lower() not in _DROP_RESPONSE}
        if response.content_type == "text/event-stream":
            return RawResponse(
                response.status, relayed, stream=response, on_close=self._release,
                on_error=self._transport_error,
            )  # fmt: skip
        try:
            return RawResponse(response.status, relayed, body=await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._transport_error(exc) from exc
        finally:
            response.release()
            self._release()

    async def list_models(self) -> list[ModelEntry]:
        answer = await self.forward(_MODELS_ENDPOINT[self.dialect], "GET", "", {}, b"")
        answer.close()
        if answer.status >= 400:
            raise error_from_upstream_body(answer.status, answer.body)
        try:
            return self._codec.model_entries(json.loads(answer.body))
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
        raw = json.dumps(body).encode()
        answer = await self.forward("anthropic.count_tokens", "POST", "", headers, raw)
        answer.close()
        if answer.status >= 400:
            raise error_from_upstream_body(answer.status, answer.body)
        try:
            return int(json.loads(answer.body)["input_tokens"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(
                f"The upstream '{self.name}' sent a token count the gateway cannot read: {exc!r}"
            ) from exc

    # --- translation through the IR ----------------------------------------------------------

    async def complete(self, request: ir.Request) -> ir.Response:
        await self._acquire()
        try:
            response = await self._post(request, stream=False)
            try:
                raw = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise self._transport_error(exc) from exc
            finally:
                response.release()
        finally:
            self._release()
        try:
            body = json.loads(raw)
        except ValueError:
            raise UpstreamError(f"The upstream '{self.name}' answered with invalid JSON") from None
        return self._codec.decode_response(body)

    async def stream(self, request: ir.Request) -> AsyncIterator[ir.Event]:
        await self._acquire()
        try:
            async with aclosing(self._stream(request)) as events:
                async for event in events:
                    yield event
        finally:
            self._release()

    async def _stream(self, request: ir.Request) -> AsyncIterator[ir.Event]:
        response = await self._post(request, stream=True)
        decoder = self._codec.StreamDecoder()
        sse = SSEDecoder()
        try:
            async for chunk in response.content.iter_any():
                for event in sse.decode(chunk):
                    for ir_event in decoder.decode(event):
                        yield ir_event
            for event in sse.flush():
                for ir_event in decoder.decode(event):
                    yield ir_event
            if hasattr(decoder, "finish"):
                for ir_event in decoder.finish():
                    yield ir_event
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._transport_error(exc) from exc
        except (ValueError, KeyError) as exc:
            raise UpstreamError(
                f"The upstream '{self.name}' sent a stream the gateway cannot read: {exc!r}"
            ) from exc
        finally:
            response.release()

    async def _post(self, request: ir.Request, *, stream: bool) -> aiohttp.ClientResponse:
        if request.extra and request.extra_dialect != self.dialect:
            raise InvalidRequest(
                f"These options need an upstream that speaks {request.extra_dialect}: "
                + ", ".join(sorted(request.extra))
            )
        request = replace(request, stream=stream, model=self.upstream_model(request.model))
        body = self._codec.encode_request(request, default_max_tokens=self._default_max_tokens)
        headers = {**self._auth_headers(), "content-type": "application/json"}
        url = self.base_url + _UPSTREAM_PATHS[self.dialect][self.dialect]
        response = await self._send("POST", url, headers, json.dumps(body).encode())
        if response.status >= 400:
            try:
                raw = await response.read()
            finally:
                response.release()
            raise error_from_upstream_body(response.status, raw)
        return response

    def _auth_headers(self) -> dict[str, str]:
        if self._missing_env:
            # Not a 401: the client's credentials are fine, the gateway's own are missing.
            raise SinkUnavailable(
                f"The upstream '{self.name}' needs credentials the gateway does not have: set "
                f"{' and '.join(self._missing_env)} in the gateway's environment and restart it."
            )
        return self._headers

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> aiohttp.ClientResponse:
        if self._session is None:
            raise UpstreamError(f"The sink '{self.name}' is not started")
        try:
            return await self._session.request(
                method, url, headers=headers, data=body or None, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._transport_error(exc) from exc

    def _transport_error(self, exc: BaseException) -> GatewayError:
        if isinstance(exc, TimeoutError):
            return UpstreamTimeout(f"The upstream '{self.name}' ({self.base_url}) timed out")
        return UpstreamError(
            f"Cannot reach the upstream '{self.name}' at {self.base_url}: "
            f"{exc.__class__.__name__}: {exc}"
        )

    async def _acquire(self) -> None:
        if self.limiter is not None:
            await self.limiter.acquire(self.name)

    def _release(self) -> None:
        if self.limiter is not None:
            self.limiter.release()
