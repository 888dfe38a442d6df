"""Percentiles and the shape of one measurement's result, shared by the load generator and run.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile ``q`` (0..100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


def summary_ms(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p90/p99/mean/max of durations given in seconds, as milliseconds."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "mean": None, "max": None}
    ordered = sorted(values)
    return {
        "p50": _ms(percentile(ordered, 50)),
        "p90": _ms(percentile(ordered, 90)),
        "p99": _ms(percentile(ordered, 99)),
        "mean": _ms(sum(ordered) / len(ordered)),
        "max": _ms(ordered[-1]),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


@dataclass
class Result:
    """One measurement: ``requests`` completed in ``window_s`` at ``concurrency``.

    ``errors`` counts failed requests by kind (``status`` is any non-2xx answer); a result with
    errors is not a valid measurement. ``ttfb_ms`` is None when the engine cannot see the first
    body byte (wrk). ``cpu_s`` is the load generator's own CPU time during the window.
    """

    engine: str
    url: str
    concurrency: int
    window_s: float
    requests: int
    rps: float
    latency_ms: dict[str, float | None]
    ttfb_ms: dict[str, float | None] | None
    errors: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        return cls(**data)
