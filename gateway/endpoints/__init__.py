"""Endpoints beside the completions: they register with the request path's endpoint registry
(gateway/flow/endpoints.py) through the built-in plugin; the request path never imports them.

    info.py       GET models, status, health and metrics
    dashboard/    the usage dashboard: page, script, data, login and logout
    mcp/          the custom routes and tool endpoints as MCP tools (Streamable HTTP)
    tools/        the tool endpoints: tool.file_read and tool.bash
"""
