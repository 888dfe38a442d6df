"""The route table of one configuration: a request path to a Route, which holds its Endpoint.

Built once per runtime from routes.yaml and the registered endpoints: the endpoints' own paths
(``/health``, ``/v1/models``, the dashboard's), the file's routes, the standard API routes again
under every mount's prefix, and each standard route under ``/v1/`` once more without it. Paths
are matched exactly; only a path no route has is looked up among the sub-path routes of the
endpoints that serve one (``/v1/responses/*``: an endpoint's ``below``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..config import Config, RouteConfig
from ..config.routing import Via
from ..config.yaml_source import ConfigError
from .endpoints import Endpoint, EndpointTable

__all__ = ["Route", "Router"]


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    endpoint: Endpoint
    #: The sink forced by the route or its mount.
    sink: str | None = None
    config: RouteConfig | None = None
    mount: str | None = None
    #: The sinks the route or its mount decides for every model (``sink``, or ``targets``).
    via: Via = field(default_factory=Via)

    @property
    def prefix(self) -> str | None:
        """What the paths a sub-path route serves begin with (``/v1/responses/``)."""
        return self.path[:-1] if self.path.endswith("/*") else None


class Router:
    def __init__(self, config: Config, endpoints: EndpointTable) -> None:
        routes: dict[str, Route] = {}
        for endpoint in endpoints:
            for path in endpoint.paths:
                routes[path] = Route(path, endpoint)
        files = _route_endpoints(config, endpoints)
        for mount in config.mounts:
            via = Via(mount.sink, mount.targets, mount.strategy)
            mount_decides = bool(mount.sink or mount.targets)
            for endpoint in endpoints:
                for path in endpoint.mounted_paths:
                    full = mount.prefix + path
                    routes[full] = Route(full, endpoint, mount.sink, mount=mount.prefix, via=via)
            for route, endpoint in files:
                if endpoint.mountable and not route.path.startswith(mount.prefix):
                    full = mount.prefix + route.path
                    sink = mount.sink or route.sink
                    chosen = via if mount_decides else _via(route)
                    routes[full] = Route(full, endpoint, sink, route, mount.prefix, chosen)
        for route, endpoint in files:
            routes[route.path] = Route(route.path, endpoint, route.sink, route, via=_via(route))
        # Clients configured with the root as their base URL post to /messages or
        # /chat/completions: a standard route under /v1 answers there too, unless a route of
        # the file claims that path.
        for path, route in list(routes.items()):
            if route.endpoint.mountable and "/v1/" in path:
                routes.setdefault(path.replace("/v1/", "/", 1), route)
        self._routes = routes
        self._below = _sub_path_routes(routes, endpoints)

    def match(self, path: str) -> Route | None:
        route = self._routes.get(path)
        if route is None and len(path) > 1 and path.endswith("/"):
            route = self._routes.get(path.rstrip("/"))
        if route is None:
            route = next(
                (r for prefix, r in self._below if path.startswith(prefix) and path != prefix),
                None,
            )
        return route

    def __iter__(self) -> Iterator[Route]:
        """Every route once (the unversioned paths are aliases, not routes of their own)."""
        unique = {id(route): route for route in self._routes.values()}
        unique.update((id(route), route) for _, route in self._below)
        return iter(sorted(unique.values(), key=lambda r: r.path))


def _via(route: RouteConfig) -> Via:
    return Via(route.sink, route.targets, route.strategy)


def _sub_path_routes(routes: dict[str, Route], endpoints: EndpointTable) -> list[tuple[str, Route]]:
    """(prefix, route) for each path below a route whose endpoint another one serves the
    sub-paths of, the longest prefixes first."""
    below = {}
    for endpoint in endpoints:
        if endpoint.below is None:
            continue
        for path, parent in routes.items():
            if parent.endpoint.name == endpoint.below and path != "/":
                prefix = path.rstrip("/") + "/"
                below[prefix] = Route(prefix + "*", endpoint, parent.sink, None, parent.mount)
    return sorted(below.items(), key=lambda item: -len(item[0]))


def _route_endpoints(
    config: Config, endpoints: EndpointTable
) -> list[tuple[RouteConfig, Endpoint]]:
    """Each route of the file with its endpoint; every unknown dialect is reported at once."""
    found, problems = [], []
    for index, route in enumerate(config.routes):
        endpoint = endpoints.get(route.dialect)
        if endpoint is None:
            known = ", ".join(sorted(e.name for e in endpoints))
            message = f"no endpoint '{route.dialect}' ({known})"
            problems.append(config.problem(("routes", index, "dialect"), message))
        else:
            found.append((route, endpoint))
    if problems:
        raise ConfigError(problems)
    return found
