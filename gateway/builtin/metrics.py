"""Prometheus counters fed by the request-finished hook and served at ``/metrics``."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

from ..exchange import Exchange
from ..hookspecs import hookimpl

__all__ = ["Metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.tokens: Counter[tuple[str, str]] = Counter()
        # Per sink, the count of requests whose latency fell in each bucket (not cumulative:
        # one increment per request; rendering adds them up as Prometheus expects).
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: Counter[str] = Counter()

    @hookimpl
    def gateway_request_finished(self, exchange: Exchange) -> None:
        sink = exchange.sink or ""
        self.requests[(exchange.route or "", sink, str(exchange.status or 0))] += 1
        if exchange.usage is not None:
            self.tokens[(sink, "input")] += exchange.usage.prompt_tokens
            self.tokens[(sink, "output")] += exchange.usage.output_tokens
        if exchange.latency_ms is not None:
            seconds = exchange.latency_ms / 1000
            counts = self.latency.get(sink)
            if counts is None:
                counts = self.latency[sink] = [0] * (len(_BUCKETS) + 1)
            counts[bisect_left(_BUCKETS, seconds)] += 1
            self.latency_sum[sink] += seconds

    def render(self) -> str:
        lines = [
            "# HELP gateway_requests_total Requests by route, sink and HTTP status.",
            "# TYPE gateway_requests_total counter",
        ]
        for (route, sink, status), n in sorted(self.requests.items()):
            lines.append(
                f'gateway_requests_total{{route="{route}",sink="{sink}",status="{status}"}} {n}'
            )
        lines += [
            "# HELP gateway_tokens_total Tokens reported by the backends.",
            "# TYPE gateway_tokens_total counter",
        ]
        for (sink, direction), n in sorted(self.tokens.items()):
            lines.append(f'gateway_tokens_total{{sink="{sink}",direction="{direction}"}} {n}')
        lines += [
            "# HELP gateway_request_seconds Time from request to the end of the response.",
            "# TYPE gateway_request_seconds histogram",
        ]
        for sink, counts in sorted(self.latency.items()):
            cumulative = 0
            for bound, n in zip(_BUCKETS, counts, strict=False):
                cumulative += n
                lines.append(
                    f'gateway_request_seconds_bucket{{sink="{sink}",le="{bound}"}} {cumulative}'
                )
            total = sum(counts)
            lines.append(f'gateway_request_seconds_bucket{{sink="{sink}",le="+Inf"}} {total}')
            lines.append(
                f'gateway_request_seconds_sum{{sink="{sink}"}} {self.latency_sum[sink]:.6f}'
            )
            lines.append(f'gateway_request_seconds_count{{sink="{sink}"}} {total}')
        return "\n".join(lines) + "\n"
