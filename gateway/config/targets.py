"""How routes.yaml says where a model goes when there is more than one place: targets, a
strategy to pick among them, retries, which failures move on, cooldowns and rules.

Pure data parsed from the (already schema-checked) file; docs/configuration.md explains each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FAILURE_KINDS",
    "STRATEGIES",
    "Condition",
    "RetryPolicy",
    "RoutingDefaults",
    "RoutingRule",
    "TargetSpec",
    "retry_policy",
    "routing_defaults",
    "routing_rule",
    "target_specs",
]

#: What can go wrong with a target before its answer's first byte, by kind.
FAILURE_KINDS = (
    "connect",  # the upstream refused or dropped the connection
    "timeout",  # no answer before the deadline of an attempt
    "rate_limited",  # 429 from the upstream
    "overloaded",  # 529 from the upstream, or the sink's own concurrency limit
    "server_error",  # 5xx from the upstream, a sink that cannot run (no login, no binary)
    "limited",  # the subscription's 5-hour or 7-day window is used up (or overage refused)
)
STRATEGIES = ("fallback", "round_robin", "weighted", "least_busy")


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A sink and the model name it receives (None: the entry's own target name)."""

    sink: str
    model: str | None = None
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    #: Tries of one target in all (1: no retry).
    attempts: int = 1
    on: frozenset[str] = frozenset({"overloaded"})
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0
    #: A ``retry-after`` longer than this moves on to the next target instead of waiting.
    max_retry_after_seconds: float = 30.0
    #: An attempt that sends no first byte within this is a ``timeout`` (a whole answer, not
    #: streamed: the whole of it); None: only the request's own timeout applies.
    first_byte_timeout_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """Every field set must hold (``all of``); an empty condition always holds."""

    input_tokens_above: int | None = None
    thinking: bool | None = None
    tools: bool | None = None
    #: Header name (lower case) -> glob of its value.
    header: Mapping[str, str] = field(default_factory=dict)
    #: Key of the body's ``metadata`` -> glob of its value.
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: Glob of the client's User-Agent.
    client: str | None = None
    #: Glob of the named key's name.
    key: str | None = None
    #: Glob of the model name the client asked for.
    model: str | None = None


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """When ``when`` holds, the request goes to ``use`` (another model entry's name) or to
    ``targets`` instead of the entry's own."""

    name: str
    when: Condition
    use: str | None = None
    targets: tuple[TargetSpec, ...] = ()
    strategy: str | None = None


@dataclass(frozen=True, slots=True)
class RoutingDefaults:
    """``routing:`` at the top of routes.yaml: what an entry does not say itself."""

    retry: RetryPolicy = RetryPolicy()
    fallback_on: frozenset[str] = frozenset(FAILURE_KINDS)
    #: Consecutive failures that cool a target down, and for how long.
    cooldown_failures: int = 3
    cooldown_seconds: float = 30.0


def target_specs(raw: Any) -> tuple[TargetSpec, ...]:
    return tuple(
        TargetSpec(spec["sink"], spec.get("model"), float(spec.get("weight", 1.0)))
        for spec in raw or ()
    )


def retry_policy(raw: Mapping[str, Any] | None, default: RetryPolicy) -> RetryPolicy:
    if raw is None:
        return default
    return RetryPolicy(
        attempts=raw.get("attempts", default.attempts),
        on=frozenset(raw["when"]) if "when" in raw else default.on,
        backoff_seconds=raw.get("backoff_seconds", default.backoff_seconds),
        max_backoff_seconds=raw.get("max_backoff_seconds", default.max_backoff_seconds),
        max_retry_after_seconds=raw.get("max_retry_after_seconds", default.max_retry_after_seconds),
        first_byte_timeout_seconds=raw.get(
            "first_byte_timeout_seconds", default.first_byte_timeout_seconds
        ),
    )


def routing_defaults(raw: Mapping[str, Any]) -> RoutingDefaults:
    base = RoutingDefaults()
    cooldown = raw.get("cooldown", {})
    return RoutingDefaults(
        retry=retry_policy(raw.get("retry"), base.retry),
        fallback_on=frozenset(raw["fallback_on"]) if "fallback_on" in raw else base.fallback_on,
        cooldown_failures=cooldown.get("failures", base.cooldown_failures),
        cooldown_seconds=cooldown.get("seconds", base.cooldown_seconds),
    )


def routing_rule(raw: Mapping[str, Any], index: int) -> RoutingRule:
    when = raw["when"]
    condition = Condition(
        input_tokens_above=when.get("input_tokens_above"),
        thinking=when.get("thinking"),
        tools=when.get("tools"),
        header={name.lower(): glob for name, glob in when.get("header", {}).items()},
        metadata=dict(when.get("metadata", {})),
        client=when.get("client"),
        key=when.get("key"),
        model=when.get("model"),
    )
    return RoutingRule(
        name=raw.get("name") or f"rules[{index}]",
        when=condition,
        use=raw.get("use"),
        targets=target_specs(raw.get("targets")),
        strategy=raw.get("strategy"),
    )
