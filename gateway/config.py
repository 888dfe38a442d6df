"""routes.yaml: load, validate against the packaged routes.schema.json, and freeze into a Config.

``gateway check``, ``gateway serve`` and live reload all go through :func:`load_config`, so what
the check accepts is exactly what the server runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from .exposure import Exposure
from .teams.keys import KeyRing, load_keys
from .teams.options import StateOptions
from .yamlsource import ConfigError, JsonPath, Located, Problem, load_yaml

__all__ = [
    "STANDARD_DIALECTS",
    "Config",
    "ConfigError",
    "Limits",
    "ModelRule",
    "MountConfig",
    "Problem",
    "RouteConfig",
    "SinkConfig",
    "gateway_schema",
    "load_config",
    "validate_with_schema",
]

# The gateway's own schemas travel in the package (gateway/schemas/), so a wheel finds them too.
_SCHEMAS = resources.files(__package__) / "schemas"
# What every MCP client accepts in a tool name: Claude Code passes it on to the Messages API,
# whose tool names allow no '.' (and the path pattern also allows '~').
_TOOL_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# Programs that run whatever command line they are given; never on a tool.bash allowlist.
_SHELL = re.compile(r"/(?:(?:ba|da|z|k|c|tc|fi|mk|a|y|rb|le)?sh|busybox|toybox)$")
# Routes the MCP endpoint offers as tools.
_TOOL_DIALECTS = ("custom", "tool.file_read", "tool.bash")
STANDARD_DIALECTS = (
    "openai.chat",
    "openai.responses",
    "anthropic.messages",
    "anthropic.count_tokens",
)


@dataclass(frozen=True, slots=True)
class SinkConfig:
    name: str
    kind: str
    options: Mapping[str, Any]
    path: JsonPath
    # Environment variables the options refer to that were not set, by option path.
    unset_env: Mapping[JsonPath, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelRule:
    """One entry of ``models``: an exact name with aliases, a glob, or a regular expression."""

    name: str | None = None
    aliases: tuple[str, ...] = ()
    match: str | None = None
    regex: re.Pattern[str] | None = None
    target: str | None = None
    sink: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RouteConfig:
    path: str
    dialect: str
    sink: str | None = None
    model: str | None = None
    request_transforms: tuple[str, ...] = ()
    response_transforms: tuple[str, ...] = ()
    description: str | None = None
    #: What to do with hosted tools (OpenAI's web_search) the sink cannot run: refuse or drop.
    hosted_tools: str = "refuse"
    #: A custom or tool route's name as an MCP tool; by default the last segment of its path.
    name: str | None = None
    #: A tool endpoint's options (``tool:``; docs/tools.md).
    tool: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tool_name(self) -> str:
        if self.name:
            return self.name
        return _TOOL_NAME_UNSAFE.sub("_", self.path.rstrip("/").rpartition("/")[2]) or "root"


@dataclass(frozen=True, slots=True)
class MountConfig:
    prefix: str
    sink: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 32 * 1024 * 1024
    request_timeout: float = 600.0
    #: Sanic's own default; it reads no more than 16 KiB of headers in any case.
    max_header_bytes: int = 8192
    #: Seconds from the first byte of a request to the end of its headers. Ten is plenty on
    #: any real link (headers are a few KB) and frees a trickling (slowloris) connection soon.
    header_timeout: float = 10.0
    #: Seconds from the end of the headers to the end of the body: 32 MiB at 5 Mbit/s fits.
    body_timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Config:
    source: Path
    default_sink: str
    sinks: Mapping[str, SinkConfig]
    models: tuple[ModelRule, ...]
    routes: tuple[RouteConfig, ...]
    mounts: tuple[MountConfig, ...]
    hooks: tuple[str, ...]
    transforms: Mapping[str, Mapping[str, str]]
    limits: Limits
    auth_token: str | None
    access_log: str | None
    exposure: Exposure
    document: Located = field(repr=False, compare=False)
    #: Named client keys (docs/teams.md), beside or instead of ``auth_token``.
    keys: KeyRing = field(default_factory=KeyRing)
    keys_file: Path | None = None
    state: StateOptions = field(default_factory=StateOptions)

    @property
    def auth_required(self) -> bool:
        """Clients must present auth.token or one of the keys."""
        return bool(self.auth_token or self.keys)

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def problem(self, path: JsonPath, message: str) -> Problem:
        return self.document.problem(path, message)


def gateway_schema(name: str) -> Traversable:
    """One of the gateway's packaged schemas, e.g. ``sinks/cli.schema.json``."""
    resource = _SCHEMAS
    for part in name.split("/"):
        resource = resource / part
    return resource


@cache
def _schema(name: str) -> jsonschema.protocols.Validator:
    return _validator(json.loads(gateway_schema(name).read_text(encoding="utf-8")))


def _validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_with_schema(
    document: Located, data: Any, schema: str | Mapping[str, Any], at: JsonPath = ()
) -> list[Problem]:
    """Every violation by ``data`` of ``schema`` (a schema of the gateway's, by file name, or a
    plugin's own, as a dict), found at ``at`` in ``document``."""
    problems = []
    validator = _schema(schema) if isinstance(schema, str) else _validator(schema)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
        if error.validator in ("oneOf", "anyOf") and error.context:
            error = best_match(error.context)
        path = (*at, *error.absolute_path)
        at_key = False
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # Point at the first unexpected key rather than at the object holding it.
            allowed = error.schema.get("properties", {})
            extra = [key for key in error.instance if key not in allowed]
            if extra:
                path, at_key = (*path, extra[0]), True
        message = error.message
        unset = document.unset_env.get(path)
        if unset:
            message += f" (the environment variable {', '.join(unset)} is not set)"
        problems.append(document.problem(path, message, at_key=at_key))
    return problems


def load_config(path: Path | str) -> Config:
    """Loads and checks a routes file; raises ConfigError listing every problem found."""
    source = Path(path).resolve()
    document = load_yaml(source)
    document.file = str(path)
    problems = validate_with_schema(document, document.data, "routes.schema.json")
    if problems:
        raise ConfigError(problems)
    config = _build(source, document)
    problems = _check_references(config)
    if problems:
        raise ConfigError(problems)
    return config


def _build(source: Path, document: Located) -> Config:
    data = document.data
    sinks = {
        name: SinkConfig(
            name=name,
            kind=raw["kind"],
            options={k: v for k, v in raw.items() if k != "kind"},
            path=("sinks", name),
            unset_env={
                p[2:]: tuple(v) for p, v in document.unset_env.items() if p[:2] == ("sinks", name)
            },
        )
        for name, raw in data["sinks"].items()
    }
    auth = data.get("auth", {})
    log = data.get("access_log", {})
    keys, keys_file = load_keys(document, auth, source.parent)
    auth_required = bool(auth.get("token") or keys)
    return Config(
        source=source,
        default_sink=data.get("default_sink") or next(iter(sinks)),
        sinks=sinks,
        models=tuple(_model(document, i, raw) for i, raw in enumerate(data.get("models", []))),
        routes=tuple(_route(raw) for raw in data["routes"]),
        mounts=tuple(MountConfig(m["prefix"], m.get("sink")) for m in data.get("mounts", [])),
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


def _model(document: Located, index: int, raw: dict[str, Any]) -> ModelRule:
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
    )


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
    )


def _check_references(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    known = ", ".join(sorted(config.sinks))

    def sink_exists(name: str | None, path: JsonPath) -> None:
        if name is not None and name not in config.sinks:
            problems.append(config.problem(path, f"'{name}' is not a defined sink ({known})"))

    sink_exists(config.document.data.get("default_sink"), ("default_sink",))
    for i, model in enumerate(config.models):
        sink_exists(model.sink, ("models", i, "sink"))
    seen_names: dict[str, int] = {}
    for i, model in enumerate(config.models):
        for j, name in enumerate(filter(None, (model.name, *model.aliases))):
            path: JsonPath = ("models", i, "name") if j == 0 else ("models", i, "aliases", j - 1)
            if name in seen_names:
                problems.append(
                    config.problem(
                        path, f"'{name}' is already defined by models[{seen_names[name]}]"
                    )
                )
            seen_names.setdefault(name, i)
    seen_paths: dict[str, int] = {}
    for i, route in enumerate(config.routes):
        sink_exists(route.sink, ("routes", i, "sink"))
        if route.path in seen_paths:
            problems.append(
                config.problem(
                    ("routes", i, "path"),
                    f"'{route.path}' is already routed by routes[{seen_paths[route.path]}]",
                )
            )
        seen_paths.setdefault(route.path, i)
        for side in ("request", "response"):
            names = route.request_transforms if side == "request" else route.response_transforms
            for j, name in enumerate(names):
                if name not in config.transforms:
                    problems.append(
                        config.problem(
                            ("routes", i, "transforms", side, j),
                            f"'{name}' is not a defined transform",
                        )
                    )
    for i, mount in enumerate(config.mounts):
        sink_exists(mount.sink, ("mounts", i, "sink"))
    for i, route in enumerate(config.routes):
        if route.tool and not route.dialect.startswith("tool."):
            problems.append(
                config.document.problem(
                    ("routes", i, "tool"),
                    "only the routes of dialect tool.file_read and tool.bash take tool options",
                    at_key=True,
                )
            )
        for j, path in enumerate(route.tool.get("executables", ())):
            if _SHELL.search(path):
                problems.append(
                    config.problem(
                        ("routes", i, "tool", "executables", j),
                        f"'{path}' is a shell: it would run any command it is given; list "
                        "the programs themselves",
                    )
                )
    tool_names: dict[str, int] = {}
    for i, route in enumerate(config.routes):
        if route.dialect not in _TOOL_DIALECTS:
            continue
        if route.tool_name in tool_names:
            problems.append(
                config.problem(
                    ("routes", i, "name" if route.name else "path"),
                    f"the MCP tool name '{route.tool_name}' is already taken by "
                    f"routes[{tool_names[route.tool_name]}]; give this route a name:",
                )
            )
        tool_names.setdefault(route.tool_name, i)
    return problems
