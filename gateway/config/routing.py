"""Pure model routing: a model name to a Target (the sink and the name it receives). No I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..errors import ModelNotFound
from .model import ModelRule

__all__ = ["ModelTable", "Target"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes: ``model`` is the name the sink receives."""

    requested: str
    model: str
    sink: str


class ModelTable:
    def __init__(self, rules: tuple[ModelRule, ...], default_sink: str) -> None:
        self._default_sink = default_sink
        self._exact: dict[str, ModelRule] = {}
        self._patterns = [r for r in rules if r.name is None]
        for rule in rules:
            for name in filter(None, (rule.name, *rule.aliases)):
                self._exact.setdefault(name, rule)

    def listed(self) -> list[tuple[str, ModelRule]]:
        """Every public name and alias, with the entry that serves it, in file order."""
        return list(self._exact.items())

    def resolve(
        self, name: str, forced_sink: str | None, forwards_unknown: Callable[[str], bool]
    ) -> Target:
        """Resolves ``name``; ``forwards_unknown(sink)`` says if a sink accepts any name."""
        rule = self._exact.get(name)
        if rule is not None:
            target = rule.target or rule.name or name
            return Target(name, target, forced_sink or rule.sink or self._default_sink)
        for rule in self._patterns:
            target = _pattern_target(rule, name)
            if target is not None:
                return Target(name, target, forced_sink or rule.sink or self._default_sink)
        sink = forced_sink or self._default_sink
        if forwards_unknown(sink):
            return Target(name, name, sink)
        raise ModelNotFound(name, list(self._exact))


def _pattern_target(rule: ModelRule, name: str) -> str | None:
    if rule.match is not None:
        return (rule.target or name) if fnmatchcase(name, rule.match) else None
    assert rule.regex is not None
    found = rule.regex.fullmatch(name)
    if found is None:
        return None
    return found.expand(rule.target) if rule.target else name
