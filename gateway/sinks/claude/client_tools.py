"""A client's own tools offered to the model through the CLI, without the CLI running them."""

from __future__ import annotations

from typing import Any

from ... import ir

__all__ = ["CLIENT_TOOLS_ENV", "TOOL_SERVER", "declare_client_tools"]

TOOL_SERVER = "gateway_client_tools"
#: With client tools: their names reach the upstream as the client sent them (no ``mcp__``
#: prefix), no tool-search placeholder, descriptions uncut.
CLIENT_TOOLS_ENV = {
    "CLAUDE_AGENT_SDK_MCP_NO_PREFIX": "1",
    "ENABLE_TOOL_SEARCH": "false",
    "CLAUDE_CODE_MAX_MCP_DESCRIPTION_LENGTH": "1000000",
}


def declare_client_tools(tools: list[ir.Tool]) -> dict[str, Any]:
    """An ``initialize`` control request offering the client's tools to the model.

    They are declared as an in-process MCP server whose manifest is sent up front, so the CLI
    lists them upstream without a round trip; with ``--tools ""`` and no ``--allowedTools``
    for them, it never runs one: a tool call ends the turn and goes back to the client.
    """
    manifest = {
        "initializeResult": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": TOOL_SERVER, "version": "1.0.0"},
        },
        "toolsListResult": {
            "tools": [
                {"name": t.name, "description": t.description or "", "inputSchema": t.input_schema}
                for t in tools
            ]
        },
    }
    return {
        "type": "control_request",
        "request_id": "gateway_init",
        "request": {
            "subtype": "initialize",
            "hooks": None,
            "sdkMcpServers": [TOOL_SERVER],
            "sdkMcpServerManifests": {TOOL_SERVER: manifest},
        },
    }
