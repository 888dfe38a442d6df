"""The access log: one JSON line per request, with no message content in it."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import IO, Any

import orjson

from ..config import Config
from ..exchange import Exchange
from ..hookspecs import hookimpl

__all__ = ["AccessLog", "record"]


def record(exchange: Exchange) -> dict[str, Any]:
    """The log line for a finished exchange: the envelope of the request, never its text."""
    line: dict[str, Any] = {
        "ts": round(time.time(), 3),
        "id": exchange.id,
        "method": exchange.method,
        "path": exchange.path,
        "route": exchange.route,
        "endpoint": exchange.endpoint,
        "key": exchange.key_name,
        "model": exchange.model,
        "target_model": exchange.target_model,
        "sink": exchange.sink,
        "target": exchange.target,
        "attempts": len(exchange.attempts) or None,
        "stream": exchange.stream,
        "passthrough": exchange.passthrough,
        "status": exchange.status,
        "latency_ms": _ms(exchange.latency_ms),
        "ttfb_ms": _ms(exchange.ttfb_ms),
    }
    if exchange.usage is not None:
        line["usage"] = {
            "input_tokens": exchange.usage.input_tokens,
            "output_tokens": exchange.usage.output_tokens,
            "cache_read_input_tokens": exchange.usage.cache_read_input_tokens,
            "cache_creation_input_tokens": exchange.usage.cache_creation_input_tokens,
        }
    if exchange.cost_usd is not None:
        line["cost_usd"] = exchange.cost_usd
    if exchange.error_type:
        line["error"] = exchange.error_type
    return line


def _line(fields: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # a path or header holding bytes that were not UTF-8 (lone surrogates)
        return (json.dumps(fields, separators=(",", ":")) + "\n").encode()


def _ok(exchange: Exchange) -> bool:
    return exchange.status is not None and exchange.status < 400


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class AccessLog:
    """Lines are buffered and flushed every ``FLUSH_INTERVAL`` seconds and at shutdown, so a
    busy gateway does not pay a write system call per request."""

    FLUSH_INTERVAL = 0.5
    #: Bytes held before a write: ~180 lines, so that a busy gateway writes a few times a second.
    BUFFER = 1 << 16

    def __init__(self) -> None:
        self._out: IO[bytes] | IO[str] | None = None
        self._write: Callable[[bytes], Any] | None = None
        self._owned = False
        self._flusher: asyncio.Task[None] | None = None

    @hookimpl
    def gateway_startup(self, config: Config) -> None:
        self._close()
        if config.access_log == "-":
            stdout = self._out = sys.stdout
            self._write = lambda line: stdout.write(line.decode())
        elif config.access_log:
            log_file = open(config.access_log, "ab", buffering=self.BUFFER)  # noqa: SIM115
            self._out, self._write, self._owned = log_file, log_file.write, True
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_often())

    @hookimpl
    def gateway_request_finished(self, exchange: Exchange) -> None:
        if exchange.endpoint == "dashboard" and exchange.method == "GET" and _ok(exchange):
            return  # an open dashboard polls every 2 s: its answers are no news
        if self._write is not None:
            self._write(_line(record(exchange)))

    @hookimpl
    def gateway_shutdown(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        self._close()

    async def _flush_often(self) -> None:
        while True:
            await asyncio.sleep(self.FLUSH_INTERVAL)
            if self._out is not None:
                self._out.flush()

    def _close(self) -> None:
        if self._out is not None:
            self._out.flush()
            if self._owned:
                self._out.close()
        self._out, self._write, self._owned = None, None, False
