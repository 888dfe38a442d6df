"""JSON answers, as every endpoint of the gateway sends them."""

from __future__ import annotations

from typing import Any

from sanic.response import HTTPResponse

from ..wire.json_codec import dumps

__all__ = ["json_response"]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    # orjson: the same bytes as compact json.dumps without ASCII escapes (wire/json_codec.py)
    return HTTPResponse(
        dumps(body), status=status, headers=headers, content_type="application/json"
    )
