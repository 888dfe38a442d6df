"""The connection of an HTTP sink to its upstream: the client session, the configured
credentials, the concurrency limit and the errors of the transport.

Both of the sink's paths use it: the byte relay (sinks/http/forwarding.py) and the translating sink
(sinks/http.py). The client is aiohttp: measured by bench/compare_clients.py, httpx's default
pool served a small fraction of aiohttp's requests/s at 32 concurrent clients (see
docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from ...errors import (
    GatewayError,
    SinkUnavailable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from ...redaction import shown_url
from ..concurrency import ConcurrencyLimiter

__all__ = ["SECRET_HEADERS", "UpstreamConnection"]

# Never shown by ``gateway try`` or /status: credentials, the client's or the gateway's.
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "cookie", "x-goog-api-key", "proxy-authorization"}
)


class UpstreamConnection:
    """One aiohttp session to ``base_url``, opened by :meth:`start` and closed by :meth:`close`."""

    def __init__(
        self,
        name: str,
        base_url: str,
        headers: dict[str, str],
        missing_env: list[str],
        options: Mapping[str, Any],
    ) -> None:
        self.name, self.base_url, self.shown_url = name, base_url, shown_url(base_url)
        self.headers, self.missing_env = headers, missing_env
        timeout = options.get("timeout", {})
        # No read timeout unless one is configured: aiohttp re-arms it on every read (a timer
        # per streamed event), and the request's own deadline (limits.request_timeout) already
        # bounds the whole answer.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout.get("connect", 10), sock_read=timeout.get("read")
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
        # No cookie jar: a cookie the upstream sets in one client's answer must not ride along
        # on every later client's request (the relay also drops set-cookie on the way back).
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )  # fmt: skip

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def shown_headers(self) -> dict[str, str]:
        return {k: "<redacted>" if k in SECRET_HEADERS else v for k, v in self.headers.items()}

    def auth_headers(self) -> dict[str, str]:
        if self.missing_env:
            # Not a 401: the client's credentials are fine, the gateway's own are missing.
            raise SinkUnavailable(
                f"The upstream '{self.name}' needs credentials the gateway does not have: set "
                f"{' and '.join(self.missing_env)} in the gateway's environment and restart it."
            )
        return self.headers

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> aiohttp.ClientResponse:
        if self._session is None:
            raise UpstreamError(f"The sink '{self.name}' is not started")
        try:
            return await self._session.request(
                method, url, headers=headers, data=body or None, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self.transport_error(exc) from exc

    def transport_error(self, exc: BaseException) -> GatewayError:
        if isinstance(exc, TimeoutError):
            return UpstreamTimeout(f"The upstream '{self.name}' ({self.shown_url}) timed out")
        if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
            return UpstreamUnreachable(
                f"Cannot reach the upstream '{self.name}' at {self.shown_url}: "
                f"{exc.__class__.__name__}: {exc}"
            )
        return UpstreamError(
            f"Cannot reach the upstream '{self.name}' at {self.shown_url}: "
            f"{exc.__class__.__name__}: {exc}"
        )

    async def acquire(self) -> None:
        if self.limiter is not None:
            await self.limiter.acquire(self.name)

    def release(self) -> None:
        if self.limiter is not None:
            self.limiter.release()
