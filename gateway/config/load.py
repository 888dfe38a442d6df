"""routes.yaml: load, validate against the packaged routes.schema.json, and freeze into a Config.

``gateway check``, ``gateway serve`` and live reload all go through :func:`load_config`, so what
the check accepts is exactly what the server runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..teams.options import StateOptions
from .checks import check_references
from .exposure import Exposure
from .keys_file import load_keys
from .model import Config, Limits, ModelRule, MountConfig, RouteConfig, SinkConfig
from .schemas import validate_with_schema
from .targets import (
    RoutingDefaults,
    retry_policy,
    routing_defaults,
    routing_rule,
    target_specs,
)
from .yaml_source import ConfigError, Located, load_yaml

__all__ = ["load_config"]

# Keys of a sink that the routing reads; the rest are the sink kind's own options.
_ROUTING_KEYS = frozenset({"kind", "when_limited", "overage"})


def load_config(path: Path | str) -> Config:
    """Loads and checks a routes file; raises ConfigError listing every problem found."""
    source = Path(path).resolve()
    document = load_yaml(source)
    document.file = str(path)
    problems = validate_with_schema(document, document.data, "routes.schema.json")
    if problems:
        raise ConfigError(problems)
    config = _build(source, document)
    problems = check_references(config)
    if problems:
        raise ConfigError(problems)
    return config


def _build(source: Path, document: Located) -> Config:
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
    keys, keys_file = load_keys(document, auth, source.parent)
    auth_required = bool(auth.get("token") or keys)
    return Config(
        source=source,
        default_sink=data.get("default_sink") or next(iter(sinks)),
        sinks=sinks,
        models=tuple(
            _model(document, i, raw, routing) for i, raw in enumerate(data.get("models", []))
        ),
        routes=tuple(_route(raw) for raw in data["routes"]),
        mounts=tuple(_mount(raw) for raw in data.get("mounts", [])),
        hooks=tuple(data.get("hooks", [])),
        transforms=data.get("transforms", {}),
        limits=Limits(**data.get("limits", {})),
        auth_token=auth.get("token") or None,
        exposure=_exposure(document, data.get("server", {}), auth_required),
        access_log=(log.get("path") or "-") if log.get("enabled", True) else None,
        document=document,
        keys=keys,
        keys_file=keys_file,
        state=StateOptions.from_options(data.get("state", {})),
        routing=routing,
    )


def _exposure(document: Located, raw: dict[str, Any], token: bool) -> Exposure:
    try:
        exposure = Exposure.from_options(raw, token_required=bool(token))
    except ValueError as exc:
        raise ConfigError([document.problem(("server", "trusted_proxies"), str(exc))]) from None
    if exposure.public_url and not exposure.public_host:
        raise ConfigError(
            [document.problem(("server", "public_url"), "expected a URL such as https://host")]
        )
    if "*" in exposure.cors_origins and not token:
        raise ConfigError(
            [
                document.problem(
                    ("server", "cors_origins"),
                    "'*' needs auth.token or auth.keys: any web page could use the gateway",
                )
            ]
        )
    if exposure.public_url and not token:
        raise ConfigError(
            [
                document.problem(
                    ("server", "public_url"),
                    "a public URL needs auth.token or auth.keys: anyone who finds the URL could "
                    "use it",
                )
            ]
        )
    return exposure


def _model(
    document: Located, index: int, raw: dict[str, Any], routing: RoutingDefaults
) -> ModelRule:
    regex = None
    if "regex" in raw:
        try:
            regex = re.compile(raw["regex"])
        except re.error as exc:
            raise ConfigError(
                [document.problem(("models", index, "regex"), f"invalid regular expression: {exc}")]
            ) from None
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
