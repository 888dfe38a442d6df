"""The Prometheus metrics registry, a service of the app: fed by the built-in metrics plugin
(one observation per finished request) and served at ``/metrics``.

With several workers (``gateway serve --workers N``) each worker writes its counts to the
directory ``PROMETHEUS_MULTIPROC_DIR`` names (prometheus-client's multiprocess mode, set up by
the command before the workers start) and ``/metrics``, whichever worker answers, adds up all
of them. One process keeps its counts in memory, in a registry of its own per app.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ..exchange import Exchange
from ..sinks.base import Sink

__all__ = ["MULTIPROCESS_DIR", "MetricsRegistry", "live_gauges", "sink_numbers"]

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# The *_created series say when a process first counted a label set: noise for a gateway.
disable_created_metrics()


class MetricsRegistry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests",
            "Requests by route, sink, HTTP status and client key.",
            ["route", "sink", "status", "key"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "gateway_tokens",
            "Tokens reported by the backends.",
            ["sink", "direction"],
            registry=self.registry,
        )
        self.key_tokens = Counter(
            "gateway_key_tokens",
            "Tokens of the answers to each named client key.",
            ["key", "direction"],
            registry=self.registry,
        )
        # By sink, not sink/model: a model pattern serves whatever names clients send.
        self.attempts = Counter(
            "gateway_sink_attempts",
            "Tries of a sink by routing, by outcome: ok, or the failure's kind.",
            ["sink", "outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "gateway_request_errors",
            "Requests that ended in an error, by sink and kind (the access log's error, the "
            "ledger's error_kind; malformed_upstream_answer: a passthrough relayed one).",
            ["sink", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_request_seconds",
            "Time from request to the end of the response.",
            ["sink"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

        # The series of each label set, found once: ``labels()`` checks and locks on every call.
        self._series: dict[tuple[Any, ...], Any] = {}

    def observe(self, exchange: Exchange) -> None:
        """Counts a finished request: its status, tokens and latency."""
        sink, key = exchange.sink or "", exchange.key_name or ""
        series = self._series_of
        series(self.requests, exchange.route or "", sink, str(exchange.status or 0), key).inc()
        usage = exchange.usage
        if usage is not None:
            series(self.tokens, sink, "input").inc(usage.prompt_tokens)
            series(self.tokens, sink, "output").inc(usage.output_tokens)
            if key:
                series(self.key_tokens, key, "input").inc(usage.prompt_tokens)
                series(self.key_tokens, key, "output").inc(usage.output_tokens)
        if exchange.error_type:
            series(self.errors, sink, exchange.error_type).inc()
        if exchange.latency_ms is not None:
            series(self.latency, sink).observe(exchange.latency_ms / 1000)
        for attempt in exchange.attempts:
            series(self.attempts, attempt.sink, attempt.error or "ok").inc()

    def _series_of(self, metric: Any, *labels: str) -> Any:
        found = self._series.get((metric, *labels))
        if found is None:
            found = self._series[(metric, *labels)] = metric.labels(*labels)
        return found

    def render(self) -> bytes:
        """The exposition text: of every worker when they share a multiprocess directory."""
        if os.environ.get(MULTIPROCESS_DIR):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def live_gauges(sinks: Iterable[Any], targets: Mapping[str, Mapping[str, Any]]) -> bytes:
    """Gauges read at each scrape from the live state of this process: each sink's
    subscription windows (utilization, reset, whether it is used up) and each target's
    cooldown. Not in the registry: they are what is, not counts of what happened."""
    lines = [
        "# HELP gateway_subscription_utilization Share of a subscription window used, as the "
        "sink last heard.",
        "# TYPE gateway_subscription_utilization gauge",
    ]
    resets, limited = [], []
    for sink in sinks:
        quota = getattr(sink, "quota", None)
        if quota is None:
            continue
        for window, state in quota.windows.items():
            labels = f'sink="{_label(sink.name)}",window="{_label(window)}"'
            if state.utilization is not None:
                lines.append(f"gateway_subscription_utilization{{{labels}}} {state.utilization}")
            if state.resets_at is not None:
                resets.append(
                    f"gateway_subscription_resets_at_seconds{{{labels}}} {state.resets_at}"
                )
        used_up = 1 if quota.status == "rejected" else 0
        limited.append(f'gateway_subscription_rejected{{sink="{_label(sink.name)}"}} {used_up}')
    lines += [
        "# HELP gateway_subscription_resets_at_seconds When a window resets (unix seconds).",
        "# TYPE gateway_subscription_resets_at_seconds gauge",
        *resets,
        "# HELP gateway_subscription_rejected 1 while the subscription refuses (a used-up window).",
        "# TYPE gateway_subscription_rejected gauge",
        *limited,
        "# HELP gateway_target_cooling 1 while a target is cooled down after failing.",
        "# TYPE gateway_target_cooling gauge",
    ]
    lines += [
        f'gateway_target_cooling{{target="{_label(key)}"}} {int(state["state"] == "cooling")}'
        for key, state in targets.items()
    ]
    return ("\n".join(lines) + "\n").encode()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def sink_numbers(sinks: Iterable[Sink]) -> bytes:
    """What each sink reports of itself (:meth:`Sink.metrics`: the processes it keeps, say),
    read at each scrape from this worker, as ``gateway_sink_<name>{sink=...}``."""
    registry = CollectorRegistry()
    registry.register(_SinkNumbers(list(sinks)))
    return generate_latest(registry)


class _SinkNumbers(Collector):
    def __init__(self, sinks: list[Sink]) -> None:
        self._sinks = sinks

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for sink in self._sinks:
            for number in sink.metrics():
                family = families.get(number.name)
                if family is None:
                    kind = CounterMetricFamily if number.kind == "counter" else GaugeMetricFamily
                    family = families[number.name] = kind(
                        f"gateway_sink_{number.name}", number.help, labels=["sink", *number.labels]
                    )
                family.add_metric([sink.name, *number.labels.values()], number.value)
        yield from families.values()
