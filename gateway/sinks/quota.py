"""A subscription's rate-limit windows as a sink last saw them (docs/cli-sink.md, "Limits").

Claude's API reports them on every answer in ``anthropic-ratelimit-unified-*`` headers; the
Claude Code CLI, logged in with a subscription, turns those into ``rate_limit_event`` lines of
its stream-json output (CLI 2.1.330: one at each process's first answer, and whenever the
state changes; nothing with an API key). Both become one :class:`Quota`, which routing reads
(a used-up window moves requests on, or refuses them until the reset) and which Anthropic
clients get back as the same headers, so Claude Code's own limit warnings work through the
gateway.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import UsageLimited

__all__ = ["HEADER_PREFIX", "Quota", "Window", "limited_error"]

HEADER_PREFIX = "anthropic-ratelimit-unified-"
_STATUS, _CLAIM = HEADER_PREFIX + "status", HEADER_PREFIX + "representative-claim"
#: Header prefixes of the windows, and their names in the CLI's events.
_WINDOWS = {"5h": "five_hour", "7d": "seven_day", "7d_oi": "seven_day_overage_included"}
_USING_OVERAGE = ("allowed", "allowed_warning")


@dataclass(frozen=True, slots=True)
class Window:
    utilization: float | None = None
    #: Unix seconds.
    resets_at: float | None = None
    status: str | None = None
    surpassed_threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Quota:
    #: ``allowed``, ``allowed_warning`` or ``rejected``.
    status: str
    resets_at: float | None = None
    #: The window the status is about: ``five_hour``, ``seven_day``, ...
    limit_type: str | None = None
    utilization: float | None = None
    overage_status: str | None = None
    overage_resets_at: float | None = None
    #: Requests are served from paid overage now (rejected window, overage allowed).
    using_overage: bool = False
    overage_in_use: bool = False
    windows: Mapping[str, Window] = field(default_factory=dict)
    #: When the sink saw it (unix seconds).
    seen_at: float = 0.0

    @classmethod
    def from_event(cls, info: Mapping[str, Any], now: float | None = None) -> Quota:
        """From the ``rate_limit_info`` of the CLI's ``rate_limit_event``."""
        windows = {
            name: Window(
                _number(raw.get("utilization")), _seconds(raw.get("resetsAt")),
                raw.get("status"), _number(raw.get("surpassedThreshold")),
            )
            for name, raw in (info.get("unifiedWindows") or {}).items()
            if isinstance(raw, Mapping)
        }  # fmt: skip
        return cls(
            status=str(info.get("status") or "allowed"),
            resets_at=_seconds(info.get("resetsAt")),
            limit_type=info.get("rateLimitType"),
            utilization=_number(info.get("utilization")),
            overage_status=info.get("overageStatus"),
            overage_resets_at=_seconds(info.get("overageResetsAt")),
            using_overage=bool(info.get("isUsingOverage")),
            overage_in_use=bool(info.get("overageInUse")),
            windows=windows,
            seen_at=time.time() if now is None else now,
        )

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], now: float | None = None) -> Quota | None:
        """From an API answer's headers; None when it carries none (an API key's answers)."""
        status = headers.get(_STATUS)
        if status is None and headers.get(_CLAIM) is None:  # on every answer: kept cheap
            return None

        def get(name: str) -> str | None:
            return headers.get(HEADER_PREFIX + name)

        windows = {}
        for prefix, name in _WINDOWS.items():
            window = Window(
                _number(get(f"{prefix}-utilization")), _seconds(get(f"{prefix}-reset")),
                get(f"{prefix}-status"), _number(get(f"{prefix}-surpassed-threshold")),
            )  # fmt: skip
            if window != Window():
                windows[name] = window
        status = status or "allowed"
        overage_status = get("overage-status")
        return cls(
            status=status,
            resets_at=_seconds(get("reset")),
            limit_type=get("representative-claim"),
            overage_status=overage_status,
            overage_resets_at=_seconds(get("overage-reset")),
            using_overage=status == "rejected" and overage_status in _USING_OVERAGE,
            overage_in_use=get("overage-in-use") == "true",
            windows=windows,
            seen_at=time.time() if now is None else now,
        )

    def limited_until(self, now: float, *, allow_overage: bool) -> float | None:
        """The time until which the sink should serve nothing (its reset; a minute after it was
        seen when it names none), or None while it may serve."""
        if self.status == "rejected":
            if self.using_overage and allow_overage:
                return None
            if self.resets_at is None and self.limit_type is None:
                # A 429 that names no window ("not your usage limit", CLI 2.1.330): an
                # ordinary rate limit, for routing's retries, not a used-up subscription.
                return None
        elif not (self.overage_in_use and not allow_overage):
            return None
        until = self.resets_at if self.resets_at is not None else self.seen_at + 60
        return None if until <= now else until  # passed: the window has reset since

    def headers(self) -> dict[str, str]:
        """The ``anthropic-ratelimit-unified-*`` headers that report this state."""
        out = {"status": self.status}
        if self.resets_at is not None:
            out["reset"] = _text(self.resets_at)
        if self.limit_type:
            out["representative-claim"] = self.limit_type
        if self.overage_status:
            out["overage-status"] = self.overage_status
        if self.overage_resets_at is not None:
            out["overage-reset"] = _text(self.overage_resets_at)
        if self.overage_in_use:
            out["overage-in-use"] = "true"
        for prefix, name in _WINDOWS.items():
            window = self.windows.get(name)
            if window is None:
                continue
            for suffix, value in (
                ("utilization", window.utilization), ("reset", window.resets_at),
                ("status", window.status), ("surpassed-threshold", window.surpassed_threshold),
            ):  # fmt: skip
                if value is not None:
                    out[f"{prefix}-{suffix}"] = _text(value)
        return {HEADER_PREFIX + name: value for name, value in out.items()}

    def summary(self) -> dict[str, Any]:
        """What a request's ledger row keeps: the status and each window's share used."""
        five, seven = self.windows.get("five_hour"), self.windows.get("seven_day")
        return {
            "status": self.status,
            "five_hour": five.utilization if five else None,
            "seven_day": seven.utilization if seven else None,
        }

    def to_json(self) -> dict[str, Any]:
        """What /status and the dashboard show."""
        return {
            "status": self.status,
            "resets_at": self.resets_at,
            "limit_type": self.limit_type,
            "utilization": self.utilization,
            "overage_status": self.overage_status,
            "using_overage": self.using_overage or self.overage_in_use,
            "windows": {
                name: {"utilization": w.utilization, "resets_at": w.resets_at, "status": w.status}
                for name, w in self.windows.items()
            },
            "seen_at": round(self.seen_at, 3),
        }


def limited_error(sink: str, quota: Quota, *, overage_refused: bool = False) -> UsageLimited:
    """The 429 for a sink whose subscription window is used up, naming it and its reset."""
    now = time.time()
    window = (quota.limit_type or "usage").replace("_", "-")
    reset = quota.resets_at
    when = "an unknown time"
    if reset is not None:
        with contextlib.suppress(OverflowError, OSError, ValueError):
            when = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%d %H:%M UTC")
    what = (
        "would spend paid overage, which this gateway refuses"
        if overage_refused
        else (f"has used up its {window} limit")
    )
    return UsageLimited(
        f"The sink '{sink}' {what}; it resets at {when}. Try again then, or route the model to "
        "another target (docs/configuration.md#targets).",
        resets_at=reset,
        now=now,
    )


def _seconds(value: Any) -> float | None:
    """A reset time as Unix seconds; one sent in milliseconds (the CLI passes those on as
    they came) is read as such."""
    number = _number(value)
    return number / 1000 if number is not None and number > 1e11 else number


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no number


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
