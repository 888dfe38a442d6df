"""Traces as a service of the app: the OpenTelemetry exporter opened when tracing is on (at
start, and again after a reload that changes its settings), each finished request recorded,
the spans still batched sent at shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..exchange import Exchange
from .settings import TracingSettings

__all__ = ["Tracing"]

log = logging.getLogger("gateway.tracing")

_INSTALL = "pip install 'claude-gateway[tracing]'"


class Tracing:
    def __init__(self) -> None:
        self.settings = TracingSettings()
        #: The span builder (spans.SpanRecorder) while tracing is on; None when off.
        self.recorder: Any = None

    async def configure(self, raw: Any) -> None:
        settings = TracingSettings.from_config(raw)
        if settings == self.settings:
            return
        previous, self.recorder, self.settings = self.recorder, None, settings
        if settings.enabled:
            try:
                from .spans import SpanRecorder
            except ImportError as exc:
                log.error("tracing is on (%s) but OpenTelemetry cannot be imported (%s): %s",
                          settings.destination, exc, _INSTALL)  # fmt: skip
            else:
                self.recorder = SpanRecorder(settings)
                log.info("traces: OTLP/HTTP to %s", settings.destination)
        if previous is not None:
            await asyncio.to_thread(previous.close)

    def record(self, exchange: Exchange) -> None:
        recorder = self.recorder
        if recorder is not None:
            recorder.record(exchange)

    async def close(self) -> None:
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            # Sends what the batch still holds (the exporter's own timeout bounds it).
            await asyncio.to_thread(recorder.close)
        self.settings = TracingSettings()
