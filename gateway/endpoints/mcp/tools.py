"""The custom routes and tool endpoints of a configuration as MCP tools: name, description and
schemas.

A custom route's input is what its first request transform accepts (its ``input_schema``), or
the neutral request when it has none; its output is what its last response transform promises
(its ``output_schema``), when that is an object. ``stream`` is left out of the input: a tool
call is always answered whole. A tool endpoint's input is its body, its output undeclared.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from ...config import gateway_schema
from ...flow.routes import Route
from ...server.runtime import Runtime
from ..tools import TOOL_ENDPOINTS

__all__ = ["RouteTool", "route_tools"]


@dataclass(frozen=True, slots=True)
class RouteTool:
    name: str
    route: Route
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None


def route_tools(runtime: Runtime) -> dict[str, RouteTool]:
    """Every custom route and tool endpoint of ``runtime``, by tool name (the names are unique:
    config.py checks)."""
    tools = {}
    for route in runtime.router:
        if route.config is None:
            continue
        config = route.config
        endpoint = TOOL_ENDPOINTS.get(route.endpoint.name)
        if endpoint is not None:
            tools[config.tool_name] = RouteTool(
                config.tool_name, route, config.description or endpoint.description,
                copy.deepcopy(endpoint.input_schema), None,
            )  # fmt: skip
            continue
        if route.endpoint.name != "custom":
            continue
        transforms = runtime.pipeline.transforms
        first = transforms[config.request_transforms[0]] if config.request_transforms else None
        last = transforms[config.response_transforms[-1]] if config.response_transforms else None
        if first is None or first.input_schema is None:
            source = _ir_request_schema() if first is None else {"type": "object"}
        else:
            source = first.input_schema.schema
        output = last.output_schema.schema if last and last.output_schema else None
        tools[config.tool_name] = RouteTool(
            name=config.tool_name,
            route=route,
            description=config.description or f"POST {route.path} of the gateway",
            input_schema=_tool_input(source),
            output_schema=output if output and output.get("type") == "object" else None,
        )
    return tools


def _tool_input(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    schema.setdefault("type", "object")
    properties = schema.get("properties")
    if isinstance(properties, dict):
        properties.pop("stream", None)
    if isinstance(schema.get("required"), list):
        schema["required"] = [key for key in schema["required"] if key != "stream"]
    return schema


@cache
def _ir_request_schema() -> dict[str, Any]:
    return json.loads(gateway_schema("ir.request.schema.json").read_text(encoding="utf-8"))
