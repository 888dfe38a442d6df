"""The usage ledger as a service of the app: the store the configuration names, opened at start
(again after a reload that moves it), one row per finished request, and what is pending written
at shutdown (or, if the store refuses it then, kept in a spill file written at the next start)."""

from __future__ import annotations

import logging

from ..config import Config
from ..exchange import Exchange
from .opening import open_store
from .record import row_from
from .settings import LedgerSettings
from .writer import LedgerWriter

__all__ = ["Ledger"]

log = logging.getLogger("gateway.usage")


class Ledger:
    def __init__(self) -> None:
        #: None while no ledger is open (``usage.enabled: false``, or it could not be opened).
        self.writer: LedgerWriter | None = None
        self._settings: LedgerSettings | None = None

    async def configure(self, config: Config) -> None:
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
                await self.writer.recover()
        if previous is not None:
            await previous.close()

    def record(self, exchange: Exchange) -> None:
        writer = self.writer
        if writer is not None:
            writer.add(row_from(exchange))

    async def close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            await writer.close()
        self._settings = None
