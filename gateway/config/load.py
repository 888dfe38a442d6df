"""routes.yaml: load, validate against the packaged routes.schema.json, and freeze into a Config.

``gateway check``, ``gateway serve`` and live reload all go through :func:`load_config`, so what
the check accepts is exactly what the server runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..teams.budget_rules import BudgetOptions, budgets_from
from ..teams.keys import KeyRing
from ..teams.options import StateOptions
from ..teams.prices import PriceTable
from .checks import check_references
from .exposure import Exposure
from .keys_file import load_keys
from .model import Config, Limits, ModelRule, MountConfig, RouteConfig, SinkConfig
from .schemas import refused_paths, validate_with_schema
from .targets import (
    RoutingDefaults,
    retry_policy,
    routing_defaults,
    routing_rule,
    target_specs,
)
from .valid_part import valid_part
from .yaml_source import ConfigError, Located, Problem, load_yaml

__all__ = ["check_config", "load_config"]

# Keys of a sink that the routing reads; the rest are the sink kind's own options.
_ROUTING_KEYS = frozenset({"kind", "when_limited", "overage"})


def load_config(path: Path | str) -> Config:
    """Loads and checks a routes file; raises ConfigError listing every problem found."""
    config, problems = check_config(path)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def check_config(path: Path | str) -> tuple[Config | None, list[Problem]]:
    """Every problem of the file, and a Config of what is valid in it (never to be served when
    there are problems; None when too little is). Entries the schema refuses are left out of the
    later checks (config/valid_part.py), so that one pass finds everything, each once."""
    source = Path(path).resolve()
    document = load_yaml(source)
    document.file = str(path)
    problems = validate_with_schema(document, document.data, "routes.schema.json")
    dropped_sinks: frozenset[str] = frozenset()
    if problems:
        remainder = valid_part(document, refused_paths(document.data, "routes.schema.json"))
        if remainder is None:
            return None, problems
        document, dropped_sinks = remainder.document, remainder.dropped_sinks
    config = _build(source, document, problems)
    problems += check_references(config, dropped_sinks)
    return config, problems


def _build(source: Path, document: Located, problems: list[Problem]) -> Config:
    """The Config of ``document``; what only building finds wrong is added to ``problems``."""
    data = document.data
    sinks = {
        name: SinkConfig(
            name=name,
            kind=raw["kind"],
            options={k: v for k, v in raw.items() if k not in _ROUTING_KEYS},
            path=("sinks", name),
            unset_env={
                p[2:]: tuple(v) for p, v in document.unset_env.items() if p[:2] == ("sinks", name)
            },
            when_limited=raw.get("when_limited", "fallback"),
            overage=raw.get("overage", "allow"),
        )
        for name, raw in data["sinks"].items()
    }
    routing = routing_defaults(data.get("routing", {}))
    auth = data.get("auth", {})
    log = data.get("access_log", {})
    try:
        keys, keys_file = load_keys(document, auth, source.parent)
    except ConfigError as error:
        problems += error.problems
        keys, keys_file = KeyRing(()), None
    # Keys that failed their checks still mean a token is wanted: no second problem for it.
    auth_required = bool(auth.get("token") or keys or auth.get("keys") or auth.get("keys_file"))
    return Config(
        source=source,
        default_sink=data.get("default_sink") or next(iter(sinks)),
        sinks=sinks,
        models=tuple(
            _model(document, i, raw, routing, problems)
            for i, raw in enumerate(data.get("models", []))
        ),
        routes=tuple(_route(raw) for raw in data["routes"]),
        mounts=tuple(_mount(raw) for raw in data.get("mounts", [])),
        hooks=tuple(data.get("hooks", [])),
        transforms=data.get("transforms", {}),
        limits=Limits(**data.get("limits", {})),
        auth_token=auth.get("token") or None,
        exposure=_exposure(document, data.get("server", {}), auth_required, problems),
        access_log=(log.get("path") or "-") if log.get("enabled", True) else None,
        document=document,
        keys=keys,
        keys_file=keys_file,
        state=StateOptions.from_options(data.get("state", {})),
        routing=routing,
        teams=_teams(document, keys, problems),
        budgets=_budget_options(document, problems),
        prices=PriceTable(data.get("prices") or {}),
        tracing=data.get("tracing") or {},
    )


def _teams(document: Located, keys: KeyRing, problems: list[Problem]) -> dict[str, Any]:
    """Each team's budgets; a key naming a team that ``teams:`` lacks is a problem."""
    raw = document.data.get("teams") or {}
    teams = {name: budgets_from("team", name, entry.get("budget")) for name, entry in raw.items()}
    written = len((document.data.get("auth") or {}).get("keys") or ())
    for index, key in enumerate(keys):
        if key.team is not None and key.team not in teams:
            known = ", ".join(sorted(teams)) or "none is defined"
            message = f"the key '{key.name}' names the team '{key.team}', not in teams: ({known})"
            # Keys of auth.keys come first; the others are the keys file's.
            at = ("auth", "keys", index, "team") if index < written else ("auth", "keys_file")
            problems.append(document.problem(at, message))
    return teams


def _budget_options(document: Located, problems: list[Problem]) -> BudgetOptions:
    options = BudgetOptions.from_options(document.data.get("budgets") or {})
    try:
        _ = options.zone
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        at = ("budgets", "time_zone")
        problems.append(document.problem(at, f"'{options.time_zone}' is no IANA time zone"))
        return BudgetOptions()
    return options


def _exposure(
    document: Located, raw: dict[str, Any], token: bool, problems: list[Problem]
) -> Exposure:
    try:
        exposure = Exposure.from_options(raw, token_required=bool(token))
    except ValueError as exc:
        problems.append(document.problem(("server", "trusted_proxies"), str(exc)))
        return Exposure.from_options({}, token_required=bool(token))
    if exposure.public_url and not exposure.public_host:
        problems.append(
            document.problem(("server", "public_url"), "expected a URL such as https://host")
        )
    if "*" in exposure.cors_origins and not token:
        problems.append(
            document.problem(
                ("server", "cors_origins"),
                "'*' needs auth.token or auth.keys: any web page could use the gateway",
            )
        )
    if exposure.public_url and not token:
        problems.append(
            document.problem(
                ("server", "public_url"),
                "a public URL needs auth.token or auth.keys: anyone who finds the URL could use it",
            )
        )
    return exposure


def _model(
    document: Located,
    index: int,
    raw: dict[str, Any],
    routing: RoutingDefaults,
    problems: list[Problem],
) -> ModelRule:
    regex = None
    if "regex" in raw:
        try:
            regex = re.compile(raw["regex"])
        except re.error as exc:
            at = ("models", index, "regex")
            problems.append(document.problem(at, f"invalid regular expression: {exc}"))
    return ModelRule(
        name=raw.get("name"),
        aliases=tuple(raw.get("aliases", ())),
        match=raw.get("match"),
        regex=regex,
        target=raw.get("target"),
        sink=raw.get("sink"),
        description=raw.get("description"),
        targets=target_specs(raw.get("targets")),
        strategy=raw.get("strategy", "fallback"),
        retry=retry_policy(raw["retry"], routing.retry) if "retry" in raw else None,
        fallback_on=frozenset(raw["fallback_on"]) if "fallback_on" in raw else None,
        rules=tuple(routing_rule(rule, i) for i, rule in enumerate(raw.get("rules", ()))),
    )


def _mount(raw: dict[str, Any]) -> MountConfig:
    targets = target_specs(raw.get("targets"))
    return MountConfig(raw["prefix"], raw.get("sink"), targets, raw.get("strategy", "fallback"))


def _route(raw: dict[str, Any]) -> RouteConfig:
    transforms = raw.get("transforms", {})
    return RouteConfig(
        path=raw["path"].rstrip("/") or "/",
        dialect=raw["dialect"],
        sink=raw.get("sink"),
        model=raw.get("model"),
        request_transforms=tuple(transforms.get("request", ())),
        response_transforms=tuple(transforms.get("response", ())),
        description=raw.get("description"),
        hosted_tools=raw.get("hosted_tools", "refuse"),
        name=raw.get("name"),
        tool=raw.get("tool", {}),
        targets=target_specs(raw.get("targets")),
        strategy=raw.get("strategy", "fallback"),
    )
