"""Registers the endpoints that ship with the gateway: the completions of each dialect, and the
models, status, health, metrics, dashboard, MCP and tool endpoints."""

from __future__ import annotations

from ..flow.endpoints import Endpoint
from ..hookspecs import hookimpl

__all__ = ["BuiltinEndpoints"]


class BuiltinEndpoints:
    @hookimpl
    def gateway_register_endpoints(self) -> list[Endpoint]:
        from ..endpoints import builtin_endpoints
        from ..flow.complete import completion_endpoints
        from ..flow.responses import RESPONSES_ENDPOINT

        return [*completion_endpoints(), RESPONSES_ENDPOINT, *builtin_endpoints()]
