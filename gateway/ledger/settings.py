"""Where the ledger lives and how long it keeps rows, from the ``usage`` section of routes.yaml."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..config.starter import packaged_config
from ..redaction import shown_url

__all__ = ["DEFAULT_FILE", "LedgerSettings"]

DEFAULT_FILE = "usage.db"
#: Overrides the default SQLite file when routes.yaml names none (the tests use it).
PATH_VARIABLE = "GATEWAY_USAGE_DB"


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    enabled: bool = True
    #: A SQLite file, unless ``url`` names a PostgreSQL database.
    path: Path | None = None
    url: str | None = None
    #: Rows older than this many days are deleted; 0 keeps them all.
    retention_days: float = 90
    #: Seconds between two batched writes (a full batch is written sooner).
    flush_interval: float = 0.5
    #: Rows that cannot be written at shutdown go to ``<spill>.<id>.spill`` files (spill.py):
    #: beside the SQLite file, or for PostgreSQL where the SQLite file would be, named after
    #: the database's URL.
    spill: Path | None = None

    @property
    def backend(self) -> str:
        return "postgresql" if self.url else "sqlite"

    @property
    def location(self) -> str:
        """Where the rows go, fit for a log line and the dashboard (a URL's secrets left out)."""
        return shown_url(self.url) if self.url else str(self.path)

    @classmethod
    def from_config(cls, config: Config) -> LedgerSettings:
        raw = config.document.data.get("usage") or {}
        url = raw.get("url") or None
        path = None
        if url:
            digest = hashlib.sha256(url.encode()).hexdigest()[:16]
            spill = _sqlite_path(config, "").with_name(f"usage-postgresql-{digest}")
        else:
            spill = path = _sqlite_path(config, raw.get("path") or "")
        return cls(
            enabled=raw.get("enabled", True),
            path=path,
            url=url,
            retention_days=raw.get("retention_days", 90),
            flush_interval=raw.get("flush_interval", 0.5),
            spill=spill,
        )


def _sqlite_path(config: Config, named: str) -> Path:
    if named:
        return (config.base_dir / os.path.expanduser(named)).resolve()
    from_env = os.environ.get(PATH_VARIABLE)
    if from_env:
        return Path(from_env).expanduser().resolve()
    if config.base_dir == packaged_config().parent.resolve():
        # The starter config of an installed wheel lies inside the package: no place for data.
        state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return Path(state) / "claude-gateway" / DEFAULT_FILE
    return config.base_dir / DEFAULT_FILE
