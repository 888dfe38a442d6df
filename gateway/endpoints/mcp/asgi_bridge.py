"""One Sanic request served by an ASGI application (the mcp package's Streamable HTTP transport).

Sanic has already read the body (MCP messages are small JSON documents); the application gets
it as one ``http.request`` message, and after that a ``receive()`` that waits until the answer is
complete and then reports ``http.disconnect``. A client that goes away cancels the Sanic handler
task, and with it everything awaited here. The answer is streamed as the application sends it:
``http.response.start`` decides the status and headers before the first byte, each
``http.response.body`` is sent at once (SSE events must not wait for the next one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sanic import Request

__all__ = ["AsgiApp", "Message", "serve_asgi"]

Message = MutableMapping[str, Any]
AsgiApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


async def serve_asgi(
    app: AsgiApp,
    request: Request,
    state: dict[str, Any],
    on_complete: Callable[[int], None],
) -> None:
    """Runs ``app`` for ``request``; ``on_complete(status)`` is called once the whole answer is
    sent (the application may still be tidying up when the client hangs up).

    ``state`` becomes the scope's ``state`` (Starlette's ``request.state``), which is how the
    application's handlers reach the gateway's objects for this request.
    """
    finished = asyncio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request.body or b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    response: Any = None
    status: int | None = None

    async def send(message: Message) -> None:
        nonlocal response, status
        if message["type"] == "http.response.start":
            status = message["status"]
            headers, content_type = _headers(message.get("headers") or [])
            response = await request.respond(
                status=status, headers=headers, content_type=content_type
            )
        elif message["type"] == "http.response.body" and response is not None:
            if finished.is_set():
                return
            chunk = message.get("body") or b""
            if chunk:
                await response.send(chunk)
            if not message.get("more_body", False):
                finished.set()
                await response.eof()
                on_complete(status or 200)

    try:
        await app(_scope(request, state), receive, send)
    finally:
        finished.set()


def _scope(request: Request, state: dict[str, Any]) -> dict[str, Any]:
    client = (request.ip, request.port) if request.ip else None
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.version,
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode("utf-8", "surrogateescape"),
        "query_string": request.query_string.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "headers": [
            (name.lower().encode("latin-1", "replace"), _header_bytes(value))
            for name, value in request.headers.items()
        ],
        "client": client,
        "server": None,
        "state": state,
    }


def _header_bytes(value: str) -> bytes:
    # Sanic keeps header bytes that are not UTF-8 as surrogate escapes: give them back as sent.
    return value.encode("utf-8", "surrogateescape")


def _headers(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], str | None]:
    headers: dict[str, str] = {}
    content_type = None
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        if key == "content-type":
            content_type = text
        elif key not in ("content-length", "connection", "transfer-encoding"):
            headers[key] = text
    return headers, content_type
