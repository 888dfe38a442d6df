"""Reading a request's body as JSON: strict UTF-8, a JSON object, no lone surrogates."""

from __future__ import annotations

import json
import re
from typing import Any

from sanic import Request

from ..errors import InvalidRequest

__all__ = ["TOO_DEEP", "read_json_body"]


def read_json_body(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object, or a 400 saying what is wrong with it."""
    if not request.body:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        text = request.body.decode("utf-8")  # strict: no surrogates hidden in raw bytes
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidRequest(TOO_DEEP) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if _SURROGATE_ESCAPE.search(request.body):
        _refuse_lone_surrogates(body)
    return body


TOO_DEEP = "The request body is nested too deeply."
# A \uD800-\uDFFF escape: JSON allows a lone one, but no UTF-8 text can hold it.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(body: dict[str, Any]) -> None:
    """A 400 naming the first string that holds half of a UTF-16 surrogate pair."""
    pending: list[tuple[str, Any]] = [("", body)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            pending += [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
            pending += [(f"{path} (a key)", k) for k in value]
        elif isinstance(value, list):
            pending += [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidRequest(
                    f"{path}: holds a lone UTF-16 surrogate (\\ud800-\\udfff without its pair), "
                    "which is not text; send valid Unicode",
                    param=path,
                ) from None
