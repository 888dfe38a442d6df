"""The ``state`` section of routes.yaml: where key limits are counted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["StateOptions"]


@dataclass(frozen=True, slots=True)
class StateOptions:
    #: ``redis://...``; None counts in the process.
    url: str | None = None
    #: When Redis cannot be reached: "open" serves without limits, "closed" refuses with 503.
    on_unavailable: str = "open"
    #: The rate window that ``requests_per_minute`` and ``tokens_per_minute`` count in.
    window_seconds: float = 60.0
    prefix: str = "gateway:"

    @classmethod
    def from_options(cls, raw: Mapping[str, Any]) -> StateOptions:
        return cls(
            url=raw.get("url") or None,
            on_unavailable=raw.get("on_unavailable", "open"),
            window_seconds=float(raw.get("window_seconds", 60)),
            prefix=raw.get("prefix", "gateway:"),
        )
