"""Errors of the MCP endpoint before a message reaches the mcp package (auth, Host, method):
a JSON-RPC error object with no id, the HTTP status telling the rest."""

from __future__ import annotations

from typing import Any

from ..errors import GatewayError

__all__ = ["encode_error"]

_INVALID_REQUEST = -32600
_INTERNAL_ERROR = -32603


def encode_error(error: GatewayError) -> tuple[int, dict[str, Any]]:
    code = _INTERNAL_ERROR if error.status >= 500 else _INVALID_REQUEST
    return error.status, {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": code,
            "message": error.message,
            "data": {"type": error.kind, "status": error.status},
        },
    }
