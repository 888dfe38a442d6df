"""What a route serves: an Endpoint, decided once when the route table is built.

An endpoint says which methods it takes, which API's error shapes its clients read, whether it
calls a sink, whether it needs a credential, whether the usage ledger keeps its rows, and how it
is served. The request path asks it these things instead of comparing names; the endpoints of
the gateway (the completions of each dialect, models, status, the dashboard, MCP, the tools)
are registered through the ``gateway_register_endpoints`` hook by the built-in plugin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sanic import Request
    from sanic.response import HTTPResponse

    from ..config import RouteConfig
    from ..dialects import Dialect
    from ..exchange import Exchange
    from ..server.runtime import Runtime
    from .routes import Route

__all__ = ["Call", "Endpoint", "EndpointTable"]


@dataclass(slots=True)
class Call:
    """One request as an endpoint serves it: the HTTP request, the runtime it started on, its
    route and its exchange (what the hooks will see)."""

    request: Request
    runtime: Runtime
    route: Route
    exchange: Exchange


#: Serves a call: the answer to send, or None once it has sent a streamed one itself.
Serve = Callable[[Call], Awaitable["HTTPResponse | None"]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    serve: Serve
    #: The methods it answers; any other is a 405 naming them (OPTIONS: a CORS preflight).
    methods: tuple[str, ...] = ("POST",)
    #: The API whose error shapes its clients read (``dialects.ANTHROPIC``, ``OPENAI``,
    #: ``JSONRPC``); None: guessed from the request's headers.
    family: str | None = None
    #: It takes a completion body to a sink (``gateway try`` can show what it would send).
    calls_sink: bool = False
    #: A credential is asked for when the gateway has one (not for /health).
    authenticated: bool = True
    #: Monitoring traffic, not usage: the usage ledger keeps no row of it.
    monitoring: bool = False
    #: It lists what a key may use (the models): any key may call it whatever its ``routes:``,
    #: and no budget is asked about it.
    listing: bool = False
    #: A page for browsers: it answers methods and refusals itself, as pages.
    page: bool = False
    #: Routes of routes.yaml to it are repeated under every mount's prefix and answer without
    #: their ``/v1`` too (the standard API endpoints).
    mountable: bool = False
    #: Paths it is served at on every gateway; ``mounted_paths`` also under each mount.
    paths: tuple[str, ...] = ()
    mounted_paths: tuple[str, ...] = ()
    #: The name of an endpoint whose sub-paths this one serves: every path below a route to
    #: that endpoint, mounted and unversioned ones included (``/v1/responses/{id}``).
    below: str | None = None
    #: The codec of a completion endpoint's dialect.
    dialect: Dialect | None = None
    #: What ``gateway check`` refuses in a route of routes.yaml to it that the schema cannot
    #: see, by path inside the route (``("tool", "executables", 0)``).
    check: Callable[[RouteConfig], list[tuple[tuple[Any, ...], str]]] | None = None

    def allows(self, method: str) -> bool:
        return method in self.methods


class EndpointTable:
    """The endpoints a runtime serves, by name."""

    def __init__(self, endpoints: Iterable[Endpoint] = ()) -> None:
        self._by_name: dict[str, Endpoint] = {}
        for endpoint in endpoints:
            self.add(endpoint)

    def add(self, endpoint: Endpoint) -> None:
        known = self._by_name.get(endpoint.name)
        if known is not None and known is not endpoint:
            raise ValueError(f"two plugins register the endpoint '{endpoint.name}'")
        self._by_name[endpoint.name] = endpoint

    def get(self, name: str) -> Endpoint | None:
        return self._by_name.get(name)

    def __getitem__(self, name: str) -> Endpoint:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self._by_name.values())
