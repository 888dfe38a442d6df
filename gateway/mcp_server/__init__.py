"""The MCP endpoint (``dialect: mcp``): the custom routes as tools, over Streamable HTTP.

Nothing is imported here: the ``mcp`` package takes ~0.6 s to import, so gateway/mcp_endpoint.py
loads ``.server`` only for a configuration that has such a route.
"""
