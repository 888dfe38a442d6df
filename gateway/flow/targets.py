"""What the gateway knows of each target across requests, and the order a request tries them.

A target that fails ``cooldown.failures`` times in a row (with a failure its plan moves on
for) is cooled down for ``cooldown.seconds``: requests skip it; then exactly one request
probes it, and its outcome decides (served: it is healthy again; failed: it cools down once
more). A sink whose subscription window is used up is skipped until the reset (``when_limited:
fallback``) or refuses at once (``refuse``). The state is an app service: it outlives reloads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config.routing import Plan, Target
from ..config.targets import RoutingDefaults
from ..errors import GatewayError, SinkUnavailable
from ..sinks.base import Sink
from ..sinks.quota import limited_error

__all__ = ["TargetHealth"]


@dataclass(slots=True)
class _State:
    failures: int = 0  # in a row
    cooling_until: float | None = None  # on the monotonic clock
    probing: bool = False  # one request is trying it after its cooldown
    in_flight: int = 0
    served: int = 0
    failed: int = 0
    last_error: str | None = None


#: Targets (and strategies' turns) kept at most: a model entry with a pattern makes a target
#: of each name a client sends; only healthy, idle ones are forgotten to stay under it.
_MAX_KEPT = 1024


class TargetHealth:
    """Only plans with more than one target are tracked: with one there is nothing to route
    around (it is always tried, never cooled down), and nothing to count."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, _State] = {}
        #: Per plan (its target keys): the smooth weighted round robin's current weights.
        self._turns: dict[tuple[str, ...], list[float]] = {}
        self.defaults = RoutingDefaults()

    def configure(self, defaults: RoutingDefaults) -> None:
        self.defaults = defaults

    def order(self, plan: Plan, sinks: Mapping[str, Sink]) -> list[Target]:
        """The targets to try, in the strategy's order, those cooling down or with a used-up
        subscription left out. A used-up sink with ``when_limited: refuse`` ends the list
        where its turn comes (a 429 naming its reset when it comes first). Raises when no
        target is left: a 429 naming the earliest reset, or a 503 naming the cooldowns."""
        if len(plan.targets) == 1:
            target = plan.targets[0]
            error = self._limited(sinks[target.sink])
            if error is not None:
                raise error
            return [target]
        now = self._clock()
        usable: list[Target] = []
        skipped: list[GatewayError] = []
        for target in self._by_strategy(plan):
            sink = sinks[target.sink]
            error = self._limited(sink)
            if error is not None:
                if sink.config.when_limited == "refuse":
                    if not usable:
                        raise error
                    break  # the targets after it are never reached
                skipped.append(error)
            elif self._available(target, now):
                usable.append(target)
        if usable:
            return usable
        if skipped:
            raise min(skipped, key=lambda e: getattr(e, "resets_at", None) or float("inf"))
        raise self._all_cooling(plan, now)

    def begin(self, target: Target, *, routed: bool) -> bool:
        """Counts a try of ``target``; False when it is cooling down, or after its cooldown
        another request is its probe (this request then moves on)."""
        if not routed:
            return True
        state = self._state(target)
        if state.cooling_until is not None:
            if state.probing or state.cooling_until > self._clock():
                return False
            state.probing = True  # its cooldown is over: this request is its probe
        state.in_flight += 1
        return True

    def end(self, target: Target, *, routed: bool) -> None:
        if routed:
            self._state(target).in_flight -= 1

    def succeeded(self, target: Target, *, routed: bool) -> None:
        if routed:
            state = self._state(target)
            state.served += 1
            state.failures, state.cooling_until, state.probing = 0, None, False

    def failed(self, target: Target, kind: str, *, routed: bool) -> bool:
        """A failure of ``kind`` (one of FAILURE_KINDS); True when it cooled the target down
        (then it is not retried)."""
        if not routed:
            return False
        state = self._state(target)
        state.failed += 1
        state.failures += 1
        state.last_error = kind
        if state.probing or state.failures >= self.defaults.cooldown_failures:
            state.cooling_until = self._clock() + self.defaults.cooldown_seconds
            state.probing = False
            return True
        return False

    def released(self, target: Target, *, routed: bool) -> None:
        """A try that ended neither way (the client left, or its own mistake): if it was the
        probe, another request probes next."""
        if routed:
            self._state(target).probing = False

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every target seen, for /status and the dashboard: ok, cooling (until a wall-clock
        time) or probing, with its counts."""
        now, wall = self._clock(), time.time()
        out = {}
        for key, state in sorted(self._states.items()):
            cooling = state.cooling_until is not None and state.cooling_until > now
            out[key] = {
                "state": "cooling" if cooling else "probing" if state.probing else "ok",
                "until": round(wall + state.cooling_until - now, 3) if cooling else None,
                "failures_in_a_row": state.failures,
                "in_flight": state.in_flight,
                "served": state.served,
                "failed": state.failed,
                "last_error": state.last_error,
            }
        return out

    def in_flight(self, target: Target) -> int:
        """Requests in flight to ``target`` through this gateway (least_busy's measure)."""
        state = self._states.get(target.key)
        return state.in_flight if state is not None else 0

    def _state(self, target: Target) -> _State:
        state = self._states.get(target.key)
        if state is None:
            if len(self._states) >= _MAX_KEPT:
                self._forget_idle()
            state = self._states[target.key] = _State()
        return state

    def _forget_idle(self) -> None:
        idle = [
            key
            for key, state in self._states.items()
            if state.cooling_until is None and not state.probing and not state.in_flight
        ]
        for key in idle:
            del self._states[key]

    def _available(self, target: Target, now: float) -> bool:
        state = self._states.get(target.key)
        if state is None or state.cooling_until is None:
            return True
        return state.cooling_until <= now and not state.probing

    def _limited(self, sink: Sink) -> GatewayError | None:
        """The 429 of a sink whose subscription is used up (or would spend refused overage)."""
        quota = sink.quota
        if quota is None:
            return None
        allow_overage = sink.config.overage == "allow"
        if quota.limited_until(time.time(), allow_overage=allow_overage) is None:
            return None
        overage = quota.status != "rejected" or quota.using_overage
        return limited_error(sink.name, quota, overage_refused=overage and not allow_overage)

    def _by_strategy(self, plan: Plan) -> list[Target]:
        targets = list(plan.targets)
        if plan.strategy == "fallback" or len(targets) == 1:
            return targets
        if plan.strategy == "least_busy":
            return sorted(targets, key=self.in_flight)  # stable: ties keep the file's order
        weights = [t.weight if plan.strategy == "weighted" else 1.0 for t in targets]
        first = self._next_turn(tuple(t.key for t in targets), weights)
        return [targets[first], *targets[first + 1 :], *targets[:first]]

    def _next_turn(self, key: tuple[str, ...], weights: list[float]) -> int:
        """Smooth weighted round robin (as nginx's): over any sum(weights) requests, each
        target is first exactly its weight's number of times, spread out, not in runs."""
        current = self._turns.get(key)
        if current is None:
            if len(self._turns) >= _MAX_KEPT:
                self._turns.clear()  # turns start over: no share is lost for long
            current = self._turns[key] = [0.0] * len(weights)
        for i, weight in enumerate(weights):
            current[i] += weight
        chosen = max(range(len(weights)), key=current.__getitem__)
        current[chosen] -= sum(weights)
        return chosen

    def _all_cooling(self, plan: Plan, now: float) -> GatewayError:
        ends = [
            state.cooling_until
            for target in plan.targets
            if (state := self._states.get(target.key)) is not None and state.cooling_until
        ]
        wait = max(1, round(min(ends) - now)) if ends else 1
        names = ", ".join(target.key for target in plan.targets)
        return SinkUnavailable(
            f"Every target of '{plan.requested}' is cooling down after failing ({names}); the "
            f"first is tried again in {wait} s. GET /status shows each target's health.",
            headers={"retry-after": str(wait)},
        )
