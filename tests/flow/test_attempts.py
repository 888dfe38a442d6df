"""Trying a plan's targets, pure: scripted outcomes for each try, no server."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from gateway.config import ModelRule
from gateway.config.routing import ModelTable, Plan, Target, Via
from gateway.config.targets import RetryPolicy, RoutingDefaults
from gateway.errors import Overloaded, UpstreamUnreachable, UsageLimited
from gateway.exchange import Exchange
from gateway.flow.answers import RelayedAnswer, WholeAnswer
from gateway.flow.attempts import try_targets
from gateway.flow.deadline import Deadline
from gateway.flow.targets import TargetHealth
from gateway.sinks.quota import Quota


class Upstream:
    """A relayed upstream answer that remembers being closed."""

    streaming = False

    def __init__(self, status: int) -> None:
        self.status, self.headers, self.body, self.closed = status, {}, b"{}", False

    def close(self) -> None:
        self.closed = True


def sink(name: str, quota: Quota | None = None, when_limited: str = "fallback"):
    config = SimpleNamespace(when_limited=when_limited, overage="allow")
    return SimpleNamespace(name=name, quota=quota, config=config)


def relayed(status: int) -> RelayedAnswer:
    return RelayedAnswer(sink("x"), Upstream(status), False, True)


def plan(*sinks: str, attempts: int = 1, fallback_on: tuple[str, ...] | None = None) -> Plan:
    retry = RetryPolicy(attempts, frozenset({"overloaded"}), 0.001, 0.001)
    extra = {} if fallback_on is None else {"fallback_on": frozenset(fallback_on)}
    return Plan("m", tuple(Target("m", "m", s) for s in sinks), "fallback", retry, **extra)


def run(chosen: Plan, outcomes: list, health: TargetHealth | None = None, sinks=None):
    """try_targets with each try answering the next of ``outcomes`` (raised if an error)."""
    health = health or TargetHealth()
    sinks = sinks or {t.sink: sink(t.sink) for t in chosen.targets}
    exchange = Exchange("r1", "POST", "/v1/messages", {}, "127.0.0.1")
    tried: list[str] = []

    async def open_target(target, _sink):
        tried.append(target.sink)
        outcome = outcomes[len(tried) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def go():
        return await try_targets(chosen, sinks, health, exchange, Deadline.after(30), open_target)

    return asyncio.run(go()), exchange, tried


def test_a_relayed_failure_is_closed_when_a_retry_or_the_next_target_answers():
    first = relayed(529)
    run(plan("a", attempts=2), [first, WholeAnswer({})])
    assert first.answer.closed
    first = relayed(529)
    run(plan("a", "b"), [first, WholeAnswer({})])
    assert first.answer.closed
    first = relayed(529)
    with pytest.raises(UpstreamUnreachable):
        run(plan("a", "b"), [first, UpstreamUnreachable("refused")])
    assert first.answer.closed


def test_the_answer_of_a_relayed_failure_names_the_target_that_sent_it():
    failure = relayed(500)
    answer, exchange, tried = run(plan("a", "b", fallback_on=("connect",)), [failure])
    assert answer is failure and tried == ["a"] and not failure.answer.closed
    assert exchange.response_headers["x-gateway-target"] == "a/m"


def test_an_empty_fallback_on_of_an_entry_means_never_move_on():
    table = ModelTable((ModelRule(name="m", fallback_on=frozenset()),), "a", RoutingDefaults())
    assert table.resolve("m", Via(), lambda sink: True).fallback_on == frozenset()


def test_a_target_cooled_down_by_a_try_is_not_retried():
    health = TargetHealth()
    health.configure(RoutingDefaults(cooldown_failures=1, cooldown_seconds=600))
    _, _, tried = run(
        plan("a", "b", attempts=2), [Overloaded("busy", retry_after=0), WholeAnswer({})], health
    )
    assert tried == ["a", "b"]
    assert health.snapshot()["a/m"]["state"] == "cooling"


def test_requests_in_flight_are_counted_back_down():
    health = TargetHealth()
    answer, _, _ = run(plan("a", "b"), [UpstreamUnreachable("refused"), WholeAnswer({})], health)
    assert health.in_flight(Target("m", "m", "b")) == 1  # until its answer is sent
    answer.on_sent()
    assert [s["in_flight"] for s in health.snapshot().values()] == [0, 0]


USED_UP = Quota.from_event({"status": "rejected", "resetsAt": 4e9, "rateLimitType": "five_hour"})


def test_a_refusing_used_up_sink_refuses_only_when_its_turn_comes():
    health = TargetHealth()
    backup = {"a": sink("a"), "b": sink("b", USED_UP, "refuse")}
    assert health.order(plan("a", "b"), backup) == [Target("m", "m", "a")]
    first = {"a": sink("a", USED_UP, "refuse"), "b": sink("b")}
    with pytest.raises(UsageLimited):
        health.order(plan("a", "b"), first)
    skipped = {"a": sink("a", USED_UP), "b": sink("b")}
    assert health.order(plan("a", "b"), skipped) == [Target("m", "m", "b")]


def test_one_target_plans_leave_no_state_behind():
    health = TargetHealth()
    for name in ("claude-x-1", "claude-x-2"):
        run(Plan(name, (Target(name, name, "a"),)), [WholeAnswer({})], health)
    assert health.snapshot() == {}
