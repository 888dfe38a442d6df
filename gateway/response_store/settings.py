"""Where responses are kept, for how long and up to what size: the ``responses`` section of
routes.yaml. By default beside the usage ledger: a ``responses.db`` next to its SQLite file, or
its PostgreSQL database when it has one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..ledger.settings import LedgerSettings
from ..redaction import shown_url

__all__ = ["DEFAULT_FILE", "StoreSettings"]

DEFAULT_FILE = "responses.db"
#: OpenAI keeps a stored response "for at least 30 days".
DEFAULT_RETENTION_DAYS = 30.0
#: As large as the largest request body the gateway takes by default.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoreSettings:
    enabled: bool = True
    #: A SQLite file, unless ``url`` names PostgreSQL or Redis.
    path: Path | None = None
    url: str | None = None
    #: Days a response is kept; 0 keeps it until it is deleted.
    retention_days: float = DEFAULT_RETENTION_DAYS
    #: The largest stored response (its own input and its answer, as JSON).
    max_bytes: int = DEFAULT_MAX_BYTES
    #: Before every Redis key (``state.prefix``).
    redis_prefix: str = "gateway:"

    @property
    def backend(self) -> str:
        if self.url and self.url.startswith(("redis://", "rediss://", "unix://")):
            return "redis"
        return "postgresql" if self.url else "sqlite"

    @property
    def location(self) -> str:
        """Where responses go, fit for a log line (a URL's secrets left out)."""
        return shown_url(self.url) if self.url else str(self.path)

    @classmethod
    def from_config(cls, config: Config) -> StoreSettings:
        raw = config.document.data.get("responses") or {}
        ledger = LedgerSettings.from_config(config)
        url = raw.get("url") or (None if raw.get("path") else ledger.url) or None
        path = None
        if not url:
            named = raw.get("path") or ""
            if named:
                path = (config.base_dir / os.path.expanduser(named)).resolve()
            else:
                assert ledger.path is not None
                path = ledger.path.parent / DEFAULT_FILE
        return cls(
            enabled=raw.get("enabled", True),
            path=path,
            url=url,
            retention_days=float(raw.get("retention_days", DEFAULT_RETENTION_DAYS)),
            max_bytes=int(raw.get("max_bytes", DEFAULT_MAX_BYTES)),
            redis_prefix=config.state.prefix,
        )
