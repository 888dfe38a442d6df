"""Reading a request off the connection within ``limits``: header and body deadlines, sizes.

Sanic's own ``REQUEST_TIMEOUT`` restarts with every byte received, so a client that trickles
its headers or body a byte at a time holds a connection forever (slowloris). Here the headers
must be complete ``header_timeout`` seconds after their first byte, and the body
``body_timeout`` seconds after the headers; either failing is a 408 and the connection closes.
A streamed answer is not affected: the deadlines end when the request has been read.

The deadlines cost a request nothing but two clock reads: each connection checks its own
every quarter of the shorter timeout (a timer per connection, not two per request), so a 408
comes up to a quarter of its timeout late.

Too large is a 413 naming the headers or the body, the limit and the setting. Sanic refuses a
declared ``Content-Length`` over the limit before reading any of it, and a chunked body once the
chunks read pass it; either way it then closed the connection with the rest unread, and closing
with unread data makes the kernel reset the connection: a client that writes its whole body
before reading (``http.client``, ``requests``) saw the reset instead of the 413. So the rest of
a refused body is read and dropped (until the body deadline, or a pause of ``_DRAIN_IDLE``)
before the connection closes; a client that sent ``Expect: 100-continue`` is refused before it
sends the body at all.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any

from sanic.exceptions import BadRequest
from sanic.exceptions import PayloadTooLarge as SanicPayloadTooLarge
from sanic.http import Http, Stage
from sanic.server.protocols.http_protocol import HttpProtocol

from ..config import Limits
from ..errors import PayloadTooLarge, RequestTimeout

__all__ = ["GatewayHttpProtocol"]

# The methods this gateway routes; anything else in a request line is not echoed to the log.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# nginx's lingering_timeout: a client still sending a refused body sends more within this.
_DRAIN_IDLE = 5.0


class _DrainingEnded(BadRequest):
    """Stops reading what is left of a refused body (Sanic then closes the connection)."""

    quiet = True


class GatewayHttp(Http):
    """One HTTP/1.1 connection whose requests are read within the current ``limits``."""

    __slots__ = ("_body_deadline", "_deadline", "_late", "_method")

    def __init__(self, protocol: Any) -> None:
        super().__init__(protocol)
        self._deadline: float | None = None  # when the part being read must be complete
        self._late = ""  # the part being read: "headers" or "body"
        self._body_deadline: float | None = None  # also bounds draining a refused body
        self._method: str | None = None

    def _limits(self) -> Limits:
        # The live configuration: a reload changes the limits of the next request.
        return self.protocol.app.ctx.runtimes.current.config.limits

    @property
    def HEADER_MAX_SIZE(self) -> int:  # Sanic's name
        return self._limits().max_header_bytes

    async def http1_request_header(self) -> None:
        limits = self._limits()
        self._method = self._body_deadline = None
        self._deadline, self._late = monotonic() + limits.header_timeout, "headers"
        try:
            await super().http1_request_header()
        except SanicPayloadTooLarge:
            self._deadline = None
            self._read_request_line()
            raise PayloadTooLarge(
                f"The request headers are larger than {limits.max_header_bytes} bytes, the most "
                "this gateway reads (limits.max_header_bytes in routes.yaml, at most 16384)."
            ) from None
        self.request_max_size = limits.max_body_bytes
        if not self.request_body:
            self._deadline = None
            return
        self._body_deadline = monotonic() + limits.body_timeout
        self._deadline, self._late = self._body_deadline, "body"

    def expired(self, now: float) -> RequestTimeout | None:
        """The 408 for a request whose headers or body are overdue at ``now``, if one is."""
        if self._deadline is None or now < self._deadline:
            return None
        if self.stage is Stage.REQUEST:
            self._read_request_line()
        elif self.stage is not Stage.HANDLER:
            return None
        self._deadline, self.keep_alive = None, False
        limits = self._limits()
        if self._late == "headers":
            return RequestTimeout(
                f"The request was not received in time: its headers did not arrive within "
                f"{limits.header_timeout:g} s (limits.header_timeout in routes.yaml)."
            )
        return RequestTimeout(
            f"The request was not received in time: its body did not arrive within "
            f"{limits.body_timeout:g} s of its headers (limits.body_timeout in routes.yaml)."
        )

    async def read(self) -> bytes | None:
        if self.stage is not Stage.HANDLER:
            return await self._discard()
        if self.expecting_continue and self._declared_too_large():
            # Refused before the client sends it: no 100 Continue, nothing to drain.
            self.expecting_continue = self.keep_alive = False
            self.request_body = None
            raise PayloadTooLarge(self._body_too_large())
        try:
            data = await super().read()
        except SanicPayloadTooLarge:
            self._deadline = None
            raise PayloadTooLarge(self._body_too_large()) from None
        if data is None:  # the whole body is in
            self._deadline = None
        return data

    async def _discard(self) -> bytes | None:
        """Reads what is left of the body after the answer went out, until the body deadline
        or a pause of ``_DRAIN_IDLE`` seconds (a client that stopped sending)."""
        self.request_max_size = float("inf")
        self._deadline = None  # the answer is out: draining has its own bounds
        until = monotonic() + _DRAIN_IDLE
        if self._body_deadline is not None:
            until = min(until, self._body_deadline)
        try:
            async with asyncio.timeout(until - monotonic()):
                return await super().read()
        except TimeoutError:
            raise _DrainingEnded("the rest of the body did not arrive in time") from None

    def _declared_too_large(self) -> bool:
        return self.request_body is True and self.request_bytes > self.request_max_size

    def _body_too_large(self) -> str:
        limit = self.request_max_size
        setting = "(limits.max_body_bytes in routes.yaml)"
        if self.request_body == "chunked":
            return f"The request body is larger than {limit} bytes, the most allowed {setting}."
        return (
            f"The request body is {self.request_bytes} bytes, more than the {limit} allowed "
            f"{setting}."
        )

    def _read_request_line(self) -> None:
        """Method and path of a request refused before its headers were parsed, for the error's
        shape (the route's dialect) and the access log."""
        end = self.recv_buffer.find(b"\r\n")
        parts = bytes(self.recv_buffer[: max(end, 0)]).decode("ascii", "replace").split(" ")
        if len(parts) == 3 and parts[0] in _METHODS and parts[1].startswith("/"):
            self._method, self.url = parts[0], parts[1]

    def create_empty_request(self) -> None:
        super().create_empty_request()
        if self._method is not None:
            self.request.method = self._method


class GatewayHttpProtocol(HttpProtocol):
    """Sanic's HTTP/1.1 protocol reading requests with :class:`GatewayHttp`, whose header
    and body deadlines it checks every quarter of the shorter of the two timeouts."""

    HTTP_CLASS = GatewayHttp
    __slots__ = ("_deadline_check",)

    def _setup_connection(self, *args: Any, **kwargs: Any) -> None:  # Sanic's, per connection
        super()._setup_connection(*args, **kwargs)
        self._deadline_check: asyncio.TimerHandle | None = None
        self._check_deadlines()

    def _check_deadlines(self) -> None:
        http = self._http
        if self._task is None or self._task.done():
            return
        error = http.expired(monotonic()) if isinstance(http, GatewayHttp) else None
        if error is not None:
            # As Sanic does for its own timeouts: the connection's task is cancelled and
            # answers with the exception left on the connection.
            http.exception = error
            self._task.cancel()
            return
        limits = self.app.ctx.runtimes.current.config.limits
        interval = min(limits.header_timeout, limits.body_timeout) / 4
        self._deadline_check = self.loop.call_later(interval, self._check_deadlines)

    def close(self, timeout: float | None = None) -> None:
        self._stop_checking()
        super().close(timeout=timeout)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_checking()
        super().connection_lost(exc)

    def _stop_checking(self) -> None:
        if getattr(self, "_deadline_check", None) is not None:
            self._deadline_check.cancel()
            self._deadline_check = None
