"""Pure routing: a request path to a Route, a model name to a Target. No Sanic, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..errors import ModelNotFound
from . import STANDARD_DIALECTS, Config, ModelRule, RouteConfig

__all__ = [
    "BUILTIN_PATHS",
    "DASHBOARD_FORMS",
    "DASHBOARD_PATHS",
    "ModelTable",
    "Route",
    "Router",
    "Target",
]

# Endpoints every gateway serves, and every mount serves under its prefix.
MODELS_PATHS = ("/v1/models", "/models")
BUILTIN_PATHS = {"/health": "health", "/metrics": "metrics", "/status": "status"}
#: The dashboard's page, script, style, data, login and logout (gateway/endpoints/dashboard/).
DASHBOARD_PATHS = (
    "/dashboard",
    "/dashboard/data",
    "/dashboard/login",
    "/dashboard/logout",
    "/dashboard/app.js",
    "/dashboard/app.css",
)
#: The dashboard's paths that take a form (POST); the others are GET.
DASHBOARD_FORMS = ("/dashboard/login", "/dashboard/logout")


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    endpoint: str  # a dialect name, or one of: models, status, health, metrics, dashboard
    sink: str | None = None  # forced by the route or its mount
    config: RouteConfig | None = None
    mount: str | None = None


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


class Router:
    """The route table of one Config: explicit routes, mounts and the built-in endpoints."""

    def __init__(self, config: Config) -> None:
        self.models = ModelTable(config.models, config.default_sink)
        routes: dict[str, Route] = {}
        for path, endpoint in BUILTIN_PATHS.items():
            routes[path] = Route(path, endpoint)
        for path in DASHBOARD_PATHS:
            routes[path] = Route(path, "dashboard")
        for path in MODELS_PATHS:
            routes[path] = Route(path, "models")
        for mount in config.mounts:
            for path in (*MODELS_PATHS, "/status"):
                endpoint = "models" if path != "/status" else "status"
                routes[mount.prefix + path] = Route(
                    mount.prefix + path, endpoint, mount.sink, mount=mount.prefix
                )
            for route in config.routes:
                if route.dialect in STANDARD_DIALECTS and not route.path.startswith(mount.prefix):
                    path = mount.prefix + route.path
                    routes[path] = Route(
                        path, route.dialect, mount.sink or route.sink, route, mount.prefix
                    )
        for route in config.routes:
            routes[route.path] = Route(route.path, route.dialect, route.sink, route)
        # Clients configured with the root as their base URL post to /messages or
        # /chat/completions: a standard route under /v1 answers there too, unless a route of
        # the file claims that path.
        for path, route in list(routes.items()):
            if route.endpoint in STANDARD_DIALECTS and "/v1/" in path:
                routes.setdefault(path.replace("/v1/", "/", 1), route)
        self._routes = routes

    def match(self, path: str) -> Route | None:
        route = self._routes.get(path)
        if route is None and len(path) > 1 and path.endswith("/"):
            route = self._routes.get(path.rstrip("/"))
        return route

    def __iter__(self):
        """Every route once (the unversioned paths are aliases, not routes of their own)."""
        unique = {id(route): route for route in self._routes.values()}
        return iter(sorted(unique.values(), key=lambda r: r.path))
