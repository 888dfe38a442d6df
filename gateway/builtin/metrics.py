"""The metrics plugin: each finished request is observed by the app's metrics registry."""

from __future__ import annotations

from ..exchange import Exchange
from ..hookspecs import hookimpl
from ..server.services import Services

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self._services: Services | None = None

    @hookimpl
    def gateway_startup(self, services: Services) -> None:
        self._services = services

    @hookimpl
    def gateway_request_finished(self, exchange: Exchange) -> None:
        if self._services is not None:
            self._services.metrics.observe(exchange)
