"""The configuration as the server runs it: frozen dataclasses built from routes.yaml by
:mod:`gateway.config.load`. Pure data, no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..teams.budget_rules import Budget, BudgetOptions
from ..teams.keys import KeyRing
from ..teams.options import StateOptions
from ..teams.prices import PriceTable
from .exposure import Exposure
from .targets import RetryPolicy, RoutingDefaults, RoutingRule, TargetSpec
from .yaml_source import JsonPath, Located, Problem

__all__ = [
    "Config",
    "Limits",
    "ModelRule",
    "MountConfig",
    "RouteConfig",
    "SinkConfig",
]

# What every MCP client accepts in a tool name: Claude Code passes it on to the Messages API,
# whose tool names allow no '.' (and the path pattern also allows '~').
_TOOL_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class SinkConfig:
    name: str
    kind: str
    options: Mapping[str, Any]
    path: JsonPath
    # Environment variables the options refer to that were not set, by option path.
    unset_env: Mapping[JsonPath, tuple[str, ...]] = field(default_factory=dict)
    #: A subscription window used up: try the next target (``fallback``), or answer 429 until
    #: it resets (``refuse``).
    when_limited: str = "fallback"
    #: Paid extra usage beyond the subscription: spend it (``allow``) or treat it as limited.
    overage: str = "allow"


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
    #: Several places to serve it (``sink`` is then not set), picked by ``strategy``.
    targets: tuple[TargetSpec, ...] = ()
    strategy: str = "fallback"
    #: None: the ``routing:`` defaults.
    retry: RetryPolicy | None = None
    fallback_on: frozenset[str] | None = None
    #: Checked in order before the targets; the first that holds decides.
    rules: tuple[RoutingRule, ...] = ()


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
    #: Sinks that serve it instead of the model entry's, picked by ``strategy``.
    targets: tuple[TargetSpec, ...] = ()
    strategy: str = "fallback"

    @property
    def tool_name(self) -> str:
        if self.name:
            return self.name
        return _TOOL_NAME_UNSAFE.sub("_", self.path.rstrip("/").rpartition("/")[2]) or "root"


@dataclass(frozen=True, slots=True)
class MountConfig:
    prefix: str
    sink: str | None = None
    targets: tuple[TargetSpec, ...] = ()
    strategy: str = "fallback"


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
    routing: RoutingDefaults = field(default_factory=RoutingDefaults)
    #: Teams of keys and their budgets (docs/teams.md#budgets).
    teams: Mapping[str, tuple[Budget, ...]] = field(default_factory=dict)
    budgets: BudgetOptions = field(default_factory=BudgetOptions)
    prices: PriceTable = field(default_factory=PriceTable)
    #: The ``tracing`` section as written (server/tracing.py reads it with the OTEL_ variables).
    tracing: Mapping[str, Any] = field(default_factory=dict)

    @property
    def auth_required(self) -> bool:
        """Clients must present auth.token or one of the keys."""
        return bool(self.auth_token or self.keys)

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def problem(self, path: JsonPath, message: str) -> Problem:
        return self.document.problem(path, message)
