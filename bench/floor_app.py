"""The floor: a bare Sanic app (no gateway code) that forwards POST /v1/messages to an upstream.

Whatever the gateway does on top of this is what the gateway costs. One shared HTTP client is
opened before the server starts; SSE answers are relayed chunk by chunk as they arrive,
JSON answers whole. Single process, access log off, 127.0.0.1 only.

    python bench/floor_app.py --port 8100 --upstream http://127.0.0.1:9100 [--client aiohttp]

``--client`` picks the HTTP client (bench/compare_clients.py measures the three):
``aiohttp`` (one ClientSession), ``httpx`` (AsyncClient, default pool limits) and
``httpx-pool`` (AsyncClient, max_connections=1000, max_keepalive_connections=1000).
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from sanic import Request, Sanic
from sanic.response import HTTPResponse

CLIENTS = ("aiohttp", "httpx", "httpx-pool")
_SSE = "text/event-stream"
# What the gateway adds for its upstream, so that the upstream sees the same request.
_UPSTREAM_HEADERS = {
    "content-type": "application/json",
    "x-api-key": "bench-upstream-key",
    "anthropic-version": "2023-06-01",
}


class Forwarder(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def forward(self, request: Request, url: str) -> HTTPResponse | None: ...


class AiohttpForwarder:
    def __init__(self) -> None:
        self._session: Any = None

    async def start(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=1024, limit_per_host=0, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def close(self) -> None:
        await self._session.close()

    async def forward(self, request: Request, url: str) -> HTTPResponse | None:
        async with self._session.post(url, data=request.body, headers=_UPSTREAM_HEADERS) as up:
            content_type = up.headers.get("content-type", "")
            if not content_type.startswith(_SSE):
                body = await up.read()
                return HTTPResponse(body, status=up.status, content_type=content_type)
            response = await request.respond(status=up.status, content_type=content_type)
            async for chunk in up.content.iter_any():
                await response.send(chunk)
            await response.eof()
            return None


class HttpxForwarder:
    def __init__(self, big_pool: bool) -> None:
        self._big_pool = big_pool
        self._client: Any = None

    async def start(self) -> None:
        import httpx

        limits = (
            httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
            if self._big_pool
            else httpx.Limits()  # the defaults: 100 connections, 20 kept alive
        )
        # A long timeout on every client, so that only the pool differs between the variants.
        self._client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0))

    async def close(self) -> None:
        await self._client.aclose()

    async def forward(self, request: Request, url: str) -> HTTPResponse | None:
        outgoing = self._client.build_request(
            "POST", url, content=request.body, headers=_UPSTREAM_HEADERS
        )
        up = await self._client.send(outgoing, stream=True)
        try:
            content_type = up.headers.get("content-type", "")
            if not content_type.startswith(_SSE):
                body = await up.aread()
                return HTTPResponse(body, status=up.status_code, content_type=content_type)
            response = await request.respond(status=up.status_code, content_type=content_type)
            async for chunk in up.aiter_raw():
                await response.send(chunk)
            await response.eof()
            return None
        finally:
            await up.aclose()


def make_forwarder(client: str) -> Forwarder:
    if client == "aiohttp":
        return AiohttpForwarder()
    if client in ("httpx", "httpx-pool"):
        return HttpxForwarder(big_pool=client == "httpx-pool")
    raise ValueError(f"unknown client {client!r} (one of {', '.join(CLIENTS)})")


def build_app(upstream: str, client: str = "aiohttp") -> Sanic:
    app = Sanic(f"floor_{client.replace('-', '_')}")
    app.config.ACCESS_LOG = False
    app.config.MOTD = False
    forwarder = make_forwarder(client)
    url = upstream.rstrip("/") + "/v1/messages"

    @app.before_server_start
    async def _open(app: Sanic) -> None:
        await forwarder.start()

    @app.after_server_stop
    async def _close(app: Sanic) -> None:
        await forwarder.close()

    @app.post("/v1/messages")
    async def messages(request: Request) -> HTTPResponse | None:
        return await forwarder.forward(request, url)

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return HTTPResponse(b"ok")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:9100")
    parser.add_argument("--client", choices=CLIENTS, default="aiohttp")
    args = parser.parse_args()
    app = build_app(args.upstream, args.client)
    app.run(host="127.0.0.1", port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
