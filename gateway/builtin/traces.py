"""The traces plugin: the spans of each finished request for the app's tracing service, when
tracing is on (docs/usage.md#traces); monitoring traffic excepted, as in the ledger."""

from __future__ import annotations

from ..exchange import Exchange
from ..hookspecs import hookimpl
from ..server.services import Services

__all__ = ["Traces"]


class Traces:
    def __init__(self) -> None:
        self._services: Services | None = None

    @hookimpl
    def gateway_startup(self, services: Services) -> None:
        self._services = services

    @hookimpl
    def gateway_request_finished(self, exchange: Exchange) -> None:
        services = self._services
        if services is not None and not exchange.monitoring:
            services.tracing.record(exchange)
