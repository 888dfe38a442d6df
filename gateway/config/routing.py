"""Pure model routing: a model name (and, for rules, what the request asks) to a Plan: the
targets that may serve it, in the order of its strategy's choosing, and how to retry. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Any

from ..errors import ModelNotFound
from .model import ModelRule
from .targets import FAILURE_KINDS, Condition, RetryPolicy, RoutingDefaults, TargetSpec

__all__ = ["Facts", "ModelTable", "Plan", "Target", "Via"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes: ``model`` is the name the sink receives."""

    requested: str
    model: str
    sink: str
    weight: float = 1.0

    @property
    def key(self) -> str:
        """``sink/model``: how answers (``x-gateway-target``), logs and health name it."""
        return f"{self.sink}/{self.model}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The targets that may serve one request, and how to go through them."""

    requested: str
    targets: tuple[Target, ...]
    strategy: str = "fallback"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    fallback_on: frozenset[str] = frozenset(FAILURE_KINDS)
    #: The rule that chose the targets (its name), or None.
    rule: str | None = None

    @property
    def primary(self) -> Target:
        return self.targets[0]


@dataclass(frozen=True, slots=True)
class Via:
    """What the route (or its mount) decides for every model it serves: one sink, or targets."""

    sink: str | None = None
    targets: tuple[TargetSpec, ...] = ()
    strategy: str = "fallback"


class Facts:
    """What rules look at in a request, worked out only when a rule asks (the token estimate
    walks the whole body). Read off the body as sent, so that it is the same whatever the
    dialect and whether or not the request is decoded (a passthrough is not)."""

    def __init__(
        self, body: Mapping[str, Any], headers: Mapping[str, str], key_name: str | None
    ) -> None:
        self.body, self.headers, self.key_name = body, headers, key_name

    @cached_property
    def input_tokens(self) -> int:
        """About a token per four characters of text; images and files (base64) left out."""
        return _text_length(self.body) // 4

    @cached_property
    def thinking(self) -> bool:
        body = self.body
        thinking = body.get("thinking")
        if isinstance(thinking, Mapping) and thinking.get("type") not in (None, "disabled"):
            return True
        reasoning = body.get("reasoning")
        if body.get("reasoning_effort") or (isinstance(reasoning, Mapping) and reasoning):
            return True
        output_config = body.get("output_config")
        return isinstance(output_config, Mapping) and bool(output_config.get("effort"))

    @cached_property
    def tools(self) -> bool:
        return bool(self.body.get("tools") or self.body.get("functions"))

    def holds(self, when: Condition, requested: str) -> bool:
        if when.model is not None and not fnmatchcase(requested, when.model):
            return False
        if when.key is not None and not (self.key_name and fnmatchcase(self.key_name, when.key)):
            return False
        agent = self.headers.get("user-agent") or ""
        if when.client is not None and not fnmatchcase(agent, when.client):
            return False
        for name, glob in when.header.items():
            value = self.headers.get(name)
            if value is None or not fnmatchcase(value, glob):
                return False
        if when.metadata:
            metadata = self.body.get("metadata")
            if not isinstance(metadata, Mapping):
                return False
            for name, glob in when.metadata.items():
                value = metadata.get(name)
                if not isinstance(value, str) or not fnmatchcase(value, glob):
                    return False
        if when.tools is not None and self.tools != when.tools:
            return False
        if when.thinking is not None and self.thinking != when.thinking:
            return False
        return when.input_tokens_above is None or self.input_tokens > when.input_tokens_above


_PLANS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class _Entry:
    rule: ModelRule
    #: The name the sinks receive unless a target names its own.
    model: str


class ModelTable:
    def __init__(
        self,
        rules: tuple[ModelRule, ...],
        default_sink: str,
        defaults: RoutingDefaults | None = None,
    ) -> None:
        self._default_sink = default_sink
        self._defaults = defaults or RoutingDefaults()
        self._plans: dict[tuple[str, Via], Plan] = {}
        self._exact: dict[str, ModelRule] = {}
        self._patterns = [r for r in rules if r.name is None]
        for rule in rules:
            for name in filter(None, (rule.name, *rule.aliases)):
                self._exact.setdefault(name, rule)

    def listed(self) -> list[tuple[str, ModelRule]]:
        """Every public name and alias, with the entry that serves it, in file order."""
        return list(self._exact.items())

    def patterns(self) -> list[str]:
        """The ``match`` globs and ``regex`` expressions, in file order: names they accept are
        served too, though no list can show them one by one."""
        return [r.match if r.match is not None else r.regex.pattern for r in self._patterns]  # type: ignore[union-attr]

    def resolve(
        self,
        name: str,
        via: Via,
        forwards_unknown: Callable[[str], bool],
        facts: Facts | None = None,
    ) -> Plan:
        """The plan for ``name`` on a route that goes ``via``; ``forwards_unknown(sink)`` says
        if a sink accepts any name. Rules are only looked at with ``facts``."""
        known = self._plans.get((name, via))
        if known is not None:
            return known
        entry = self._entry(name)
        if entry is None:
            plan = self._plan(name, name, None, via, ())
            if not forwards_unknown(plan.primary.sink):
                raise ModelNotFound(name, list(self._exact), self.patterns())
            return self._keep(name, via, plan)
        rule = entry.rule
        if not rule.rules:
            return self._keep(name, via, self._plan(name, entry.model, rule, via, rule.targets))
        if facts is not None:
            for routing_rule in rule.rules:
                if not facts.holds(routing_rule.when, name):
                    continue
                if routing_rule.use is not None:
                    chosen = self._entry(routing_rule.use)
                    assert chosen is not None  # checked when the file was loaded
                    plan = self._plan(name, chosen.model, chosen.rule, via, chosen.rule.targets)
                else:
                    plan = self._plan(name, entry.model, rule, via, routing_rule.targets,
                                      routing_rule.strategy)  # fmt: skip
                return _named(plan, routing_rule.name)
        return self._plan(name, entry.model, rule, via, rule.targets)

    def _keep(self, name: str, via: Via, plan: Plan) -> Plan:
        """A plan that no request's facts can change, kept: most requests name a few models,
        and building one was a tenth of a small request's routing time."""
        if len(self._plans) >= _PLANS_KEPT:
            self._plans.clear()  # a pattern entry serves whatever names clients send
        self._plans[(name, via)] = plan
        return plan

    def _entry(self, name: str) -> _Entry | None:
        rule = self._exact.get(name)
        if rule is not None:
            return _Entry(rule, rule.target or rule.name or name)
        for rule in self._patterns:
            target = _pattern_target(rule, name)
            if target is not None:
                return _Entry(rule, target)
        return None

    def _plan(
        self,
        requested: str,
        model: str,
        rule: ModelRule | None,
        via: Via,
        specs: tuple[TargetSpec, ...],
        strategy: str | None = None,
    ) -> Plan:
        defaults = self._defaults
        retry = rule.retry if rule and rule.retry is not None else defaults.retry
        fallback_on = (
            rule.fallback_on if rule and rule.fallback_on is not None else defaults.fallback_on
        )
        if via.targets:  # the route or mount decides the sinks
            specs, strategy = via.targets, via.strategy
        elif via.sink is not None:
            specs, strategy = (TargetSpec(via.sink),), "fallback"
        elif not specs:
            specs = (TargetSpec((rule.sink if rule else None) or self._default_sink),)
        strategy = strategy or (rule.strategy if rule else "fallback")
        targets = tuple(
            Target(requested, spec.model or model, spec.sink, spec.weight) for spec in specs
        )
        return Plan(requested, targets, strategy, retry, fallback_on)


def _named(plan: Plan, rule: str) -> Plan:
    return Plan(plan.requested, plan.targets, plan.strategy, plan.retry, plan.fallback_on, rule)


def _pattern_target(rule: ModelRule, name: str) -> str | None:
    if rule.match is not None:
        return (rule.target or name) if fnmatchcase(name, rule.match) else None
    assert rule.regex is not None
    found = rule.regex.fullmatch(name)
    if found is None:
        return None
    return found.expand(rule.target) if rule.target else name


_BINARY_KEYS = frozenset({"data", "file_data", "image_url", "image", "source"})
# Keys whose strings are labels, not text the model reads as tokens of the conversation.
_LABEL_KEYS = frozenset({"type", "role", "media_type", "model", "id", "tool_call_id"})


def _text_length(value: Any, key: str = "") -> int:
    """Characters of text in a JSON value, leaving out what is binary (base64 images, files)."""
    if isinstance(value, str):
        if key in _BINARY_KEYS or key in _LABEL_KEYS or value.startswith("data:"):
            return 0
        return len(value)
    if isinstance(value, Mapping):
        return sum(_text_length(v, k) for k, v in value.items() if k not in ("model", "metadata"))
    if isinstance(value, list):
        return sum(_text_length(item, key) for item in value)
    return 0
