"""JSON answers, as every endpoint of the gateway sends them."""

from __future__ import annotations

import json
from typing import Any

from sanic.response import HTTPResponse

__all__ = ["json_response"]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return HTTPResponse(data, status=status, headers=headers, content_type="application/json")
