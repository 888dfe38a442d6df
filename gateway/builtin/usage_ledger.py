"""The usage ledger plugin: a row in the app's ledger for each finished request, monitoring
traffic (health checks, /metrics, /status, the dashboard's polling) excepted."""

from __future__ import annotations

from ..exchange import Exchange
from ..hookspecs import hookimpl
from ..server.services import Services

__all__ = ["UsageLedger"]


class UsageLedger:
    def __init__(self) -> None:
        self._services: Services | None = None

    @hookimpl
    def gateway_startup(self, services: Services) -> None:
        self._services = services

    @hookimpl
    def gateway_request_finished(self, exchange: Exchange) -> None:
        if self._services is not None and not exchange.monitoring:
            self._services.ledger.record(exchange)
