"""Serve a gateway app on 127.0.0.1 in a background thread, for the real SDK clients to call."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from sanic import Sanic


class ServedApp:
    """A Sanic app served on a free loopback port until ``stop()``; listeners run as in prod."""

    def __init__(self, app: Sanic) -> None:
        self.app = app
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServedApp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(512)
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._boot(sock))
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.close()  # its selector and wake-up socket, one of each per test app

        self._thread = threading.Thread(target=run, name=f"serve-{self.app.name}", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the gateway did not start within 30 s")
        if failure:
            raise failure[0]
        return self

    async def _boot(self, sock: socket.socket) -> None:
        self._server = await self.app.create_server(
            sock=sock, return_asyncio_server=True, access_log=False
        )
        await self._server.startup()
        await self._server.before_start()
        await self._server.after_start()

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Runs a coroutine on the server's loop (to reload a config, say)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        """Stops the server as a clean shutdown does; a second call does nothing."""
        if self._loop is None or self._server is None:
            return

        async def shutdown() -> None:
            await self._server.before_stop()
            await self._server.close()
            # The clients' kept-alive connections: left open, each kept a socket to the end of
            # the run, and a long run went past the 1,024 descriptors select() takes.
            for connection in list(self._server.connections):
                connection.close()
            await self._server.after_stop()

        self.call(shutdown())
        self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(30)
