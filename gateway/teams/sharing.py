"""Whose login serves whom: the named keys that can reach a sink answering with one person's own
Claude login (a subscription), which Anthropic's consumer terms do not let a team share
(docs/teams.md#whose-login-serves-whom). ``gateway serve`` warns when several keys can.

Which keys reach a sink is read off routes.yaml as routing would send them: the routes and
mounts that name it (by ``sink`` or ``targets``), and the model-routed paths when a model the
key may use leads to it. A key's ``routes:`` and ``models:`` narrow both.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from .keys import ClientKey

__all__ = ["keys_reaching", "shared_login_warnings"]


def _leads_to(sink: str | None, targets: Any, name: str) -> bool:
    return sink == name or any(t.sink == name for t in targets)


def keys_reaching(config: Any, sink: str) -> list[str]:
    direct: list[str] = []  # paths that always reach the sink
    model_routed: list[str] = []  # paths whose model picks the sink
    for route in config.routes:
        if _leads_to(route.sink, route.targets, sink):
            direct.append(route.path)
        elif route.sink is None and not route.targets:
            model_routed.append(route.path)
    for mount in config.mounts:
        if _leads_to(mount.sink, mount.targets, sink):
            direct.append(mount.prefix.rstrip("/") + "/v1/messages")
    names: list[str] = []
    for rule in config.models:
        if _leads_to(rule.sink, rule.targets, sink) or (
            rule.sink is None and not rule.targets and config.default_sink == sink
        ):
            names += [n for n in (rule.name, rule.match, *rule.aliases) if n]
    return [
        key.name
        for key in config.keys
        if any(_may_call(key, p) for p in direct)
        or (any(_may_call(key, p) for p in model_routed) and _may_use_any(key, names))
    ]


def _may_call(key: ClientKey, path: str) -> bool:
    return key.identity.allows_route(path)


def _may_use_any(key: ClientKey, names: list[str]) -> bool:
    if key.models is None:
        return bool(names)
    return any(fnmatchcase(n, pattern) or n == pattern for n in names for pattern in key.models)


def shared_login_warnings(
    config: Any, kinds: Mapping[str, type], environ: Mapping[str, str]
) -> list[str]:
    """A warning for each sink on one person's login that several named keys can reach."""
    warnings = []
    for name, sink in config.sinks.items():
        cls = kinds.get(sink.kind)
        if cls is None or not cls.personal_login(sink.options, environ):
            continue
        reaching = keys_reaching(config, name)
        if len(reaching) < 2:
            continue
        warnings.append(
            f"{len(reaching)} named keys ({', '.join(reaching)}) can reach the sink '{name}' "
            f"(kind {sink.kind}), which answers with this machine's own Claude login: "
            "Anthropic's consumer terms do not let a team share one person's subscription. "
            "Serve a team through an API key (an http sink, or ANTHROPIC_API_KEY in the "
            "sink's env), or narrow these keys' routes: and models: "
            "(docs/teams.md#whose-login-serves-whom)."
        )
    return warnings
