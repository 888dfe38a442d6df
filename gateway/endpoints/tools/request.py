"""A tool endpoint's JSON body checked against its schema: a 400 naming every violation."""

from __future__ import annotations

from typing import Any

from ...errors import InvalidRequest
from ...pipeline.payload_schema import PayloadSchema

__all__ = ["checked_body"]


def checked_body(schema: PayloadSchema, body: Any) -> dict[str, Any]:
    violations = schema.violations(body)
    if violations:
        raise InvalidRequest(
            "The request does not match what this endpoint accepts: " + "; ".join(violations)
        )
    return body
