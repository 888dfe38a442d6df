"""Passthrough: one request relayed to an upstream of the client's own dialect, bytes untouched.

Only headers change on the way: hop-by-hop headers and the client's credentials are dropped,
the configured credentials added. The answer comes back whole (:attr:`RawResponse.body`) or,
when the upstream streams, as the chunks it sends (:meth:`RawResponse.chunks`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp

from ...errors import GatewayError, InvalidRequest
from .connection import UpstreamConnection

__all__ = ["RawResponse", "forward"]

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
_DROP_RESPONSE = _HOP_BY_HOP | {"set-cookie"}
# What no header may carry on the way out: control characters, and the bytes that were not
# UTF-8, which Sanic keeps as lone surrogates (aiohttp refuses both, as it should).
_UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f\udc80-\udcff]")


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
        #: The upstream's own headers, read case-insensitively (``headers`` keep their case).
        self.upstream_headers: Mapping[str, str] = headers
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


async def forward(
    connection: UpstreamConnection,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
) -> RawResponse:
    """Relays one request to ``url``; streams the answer back when the upstream streams it."""
    outgoing = _relayed_request_headers(headers)
    outgoing.update(connection.auth_headers())
    outgoing["accept-encoding"] = "identity"
    await connection.acquire()
    try:
        response = await connection.send(method, url, outgoing, body)
    except BaseException:
        connection.release()
        raise
    relayed = {k: v for k, v in response.headers.items() if k.lower() not in _DROP_RESPONSE}
    if response.content_type == "text/event-stream":
        answer = RawResponse(
            response.status, relayed, stream=response, on_close=connection.release,
            on_error=connection.transport_error,
        )  # fmt: skip
        answer.upstream_headers = response.headers
        return answer
    try:
        answer = RawResponse(response.status, relayed, body=await response.read())
        answer.upstream_headers = response.headers
        return answer
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise connection.transport_error(exc) from exc
    finally:
        response.release()
        connection.release()


def _relayed_request_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers that go on to the upstream; a 400 for one that cannot be sent."""
    outgoing = {}
    for name, value in headers.items():
        if name.lower() in _DROP_REQUEST:
            continue
        # isprintable() is the fast test: false for every control character and surrogate
        # (and for a tab or some spaces, which the pattern then allows).
        unsure = not (name.isprintable() and value.isprintable())
        if unsure and (_UNSENDABLE.search(name) or _UNSENDABLE.search(value)):
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise InvalidRequest(
                f"The header {shown} holds a control character or bytes that are not UTF-8, "
                "so it cannot be relayed to the upstream",
                param=shown,
            )
        # A header sent twice (two anthropic-beta lines) is one list of values (RFC 9110 5.3).
        outgoing[name] = f"{outgoing[name]}, {value}" if name in outgoing else value
    return outgoing
