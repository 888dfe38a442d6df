"""The usage ledger as a built-in plugin: one row per request, from the request-finished hook."""

from __future__ import annotations

import logging

from ..config import Config
from ..exchange import Exchange
from ..hookspecs import hookimpl
from ..ledger.record import row_from
from ..ledger.settings import LedgerSettings
from ..ledger.store import open_store
from ..ledger.writer import LedgerWriter

__all__ = ["NOT_RECORDED", "UsageLedger"]

log = logging.getLogger("gateway.usage")

#: Monitoring traffic, not usage: a dashboard polling every 2 s would outgrow the real rows.
NOT_RECORDED = frozenset({"health", "metrics", "status", "dashboard"})


class UsageLedger:
    """Opens the ledger the configuration names (again after a reload that changes it),
    records each finished request, and writes what is pending at shutdown."""

    def __init__(self) -> None:
        self.writer: LedgerWriter | None = None
        self._settings: LedgerSettings | None = None

    @hookimpl
    async def gateway_startup(self, config: Config) -> None:
        settings = LedgerSettings.from_config(config)
        if settings == self._settings:
            return
        # A reload that moves the ledger: the new one takes rows before the old one closes
        # (writing what it still holds), so none is lost in between.
        previous, self.writer, self._settings = self.writer, None, settings
        if settings.enabled:
            try:
                store = await open_store(settings)
            except Exception as exc:
                log.error("usage ledger %s cannot be opened, nothing is recorded: %s",
                          settings.location, exc)  # fmt: skip
            else:
                self.writer = LedgerWriter(store, settings)
                self.writer.start()
                log.info("usage ledger: %s", settings.location)
        if previous is not None:
            await previous.close()

    @hookimpl
    def gateway_request_finished(self, exchange: Exchange) -> None:
        writer = self.writer
        if writer is not None and exchange.endpoint not in NOT_RECORDED:
            writer.add(row_from(exchange))

    @hookimpl
    async def gateway_shutdown(self) -> None:
        await self._close()
        self._settings = None

    async def _close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            await writer.close()
