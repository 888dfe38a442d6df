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


class TargetHealth:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, _State] = {}
        #: Per plan (its target keys): the smooth weighted round robin's current weights.
        self._turns: dict[tuple[str, ...], list[float]] = {}
        self.defaults = RoutingDefaults()

    def configure(self, defaults: RoutingDefaults) -> None:
        self.defaults = defaults

    def order(self, plan: Plan, sinks: Mapping[str, Sink]) -> list[Target]:
        """The targets to try, in order: the strategy's, those cooling down or limited left
        out. Raises when none is left (a 503 naming the cooldowns, or a 429 naming the reset
        of a used-up window), or at once for a limited sink that refuses."""
        if len(plan.targets) == 1:  # nothing to route around: no cooldown, a limit refuses
            target = plan.targets[0]
            self._refuse_if_limited(target, sinks[target.sink], refuse_only=False)
            return [target]
        now = self._clock()
        ordered = self._by_strategy(plan)
        usable, limited = [], []
        for target in ordered:
            error = self._refuse_if_limited(target, sinks[target.sink], refuse_only=True)
            if error is not None:
                limited.append(error)
            elif self._available(target, now):
                usable.append(target)
        if usable:
            return usable
        if limited:
            raise min(limited, key=lambda e: getattr(e, "resets_at", None) or float("inf"))
        raise self._all_cooling(plan, now)

    def begin(self, target: Target, *, routed: bool = True) -> bool:
        """Counts a try of ``target``; False when it is cooling down and another request is
        its probe (this request then moves on). Not ``routed`` (a plan of one target): it is
        tried whatever its state."""
        state = self._state(target)
        if routed and state.cooling_until is not None:
            if state.probing:
                return False
            state.probing = True  # its cooldown is over (order() checked): this is the probe
        state.in_flight += 1
        return True

    def end(self, target: Target) -> None:
        self._state(target).in_flight -= 1

    def succeeded(self, target: Target) -> None:
        state = self._state(target)
        state.served += 1
        state.failures, state.cooling_until, state.probing = 0, None, False

    def failed(self, target: Target, kind: str, *, routed: bool = True) -> None:
        """A failure of ``kind`` (one of FAILURE_KINDS). Only a ``routed`` one (a plan with
        other targets to go to) cools the target down."""
        state = self._state(target)
        state.failed += 1
        state.failures += 1
        state.last_error = kind
        if routed and (state.probing or state.failures >= self.defaults.cooldown_failures):
            state.cooling_until = self._clock() + self.defaults.cooldown_seconds
            state.probing = False

    def released(self, target: Target) -> None:
        """A probe that ended neither way (the client left): another request probes next."""
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
        state = self._states.get(target.key)
        return state.in_flight if state is not None else 0

    def _state(self, target: Target) -> _State:
        state = self._states.get(target.key)
        if state is None:
            state = self._states[target.key] = _State()
        return state

    def _available(self, target: Target, now: float) -> bool:
        state = self._states.get(target.key)
        if state is None or state.cooling_until is None:
            return True
        return state.cooling_until <= now and not state.probing

    def _refuse_if_limited(
        self, target: Target, sink: Sink, *, refuse_only: bool
    ) -> GatewayError | None:
        quota = sink.quota
        if quota is None:
            return None
        allow_overage = sink.config.overage == "allow"
        until = quota.limited_until(time.time(), allow_overage=allow_overage)
        if until is None:
            return None
        overage = quota.status != "rejected" or quota.using_overage
        error = limited_error(sink.name, quota, overage_refused=overage and not allow_overage)
        if sink.config.when_limited == "refuse" or not refuse_only:
            raise error
        return error

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
