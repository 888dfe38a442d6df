"""One exception tree for everything the gateway reports to a client.

    GatewayError                      500  something inside the gateway failed
    ├── InvalidRequest                400  malformed JSON, wrong types, unsupported options
    ├── AuthenticationFailed          401  missing or wrong gateway token, missing upstream key
    ├── PermissionDenied              403
    ├── NotFound                      404
    │   ├── RouteNotFound                  no route serves this path
    │   └── ModelNotFound                  no model or alias has this name
    ├── MethodNotAllowed              405
    ├── RequestTimeout                408  the client did not send its request in time
    ├── PayloadTooLarge               413  the headers or the body are over their limit
    ├── Unprocessable                 422  well-formed but refused (schema of a custom endpoint)
    ├── RateLimited                   429  a key's limit, or the upstream asked us to slow down
    │   ├── UsageLimited                   a subscription's window is used up (until its reset)
    │   └── BudgetExceeded                 a key's or team's budget is spent (until its reset)
    ├── Overloaded                    429 (OpenAI) / 529 (Anthropic), with Retry-After
    ├── UpstreamError                 502  the backend failed or answered nonsense
    │   └── UpstreamUnreachable            the upstream refused or dropped the connection
    ├── SinkUnavailable               503  the backend cannot run at all (binary missing, ...)
    │   └── LimitsUnavailable              the limits' store (Redis) is unreachable, policy closed
    ├── UpstreamTimeout               504
    └── TransformFailed               500  a transform raised or produced invalid output

Each class carries its HTTP status and a neutral ``kind``; every dialect renders the same
exception in its own error shape (see ``gateway.dialects``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence

__all__ = [
    "AuthenticationFailed",
    "BudgetExceeded",
    "GatewayError",
    "InvalidRequest",
    "LimitsUnavailable",
    "MethodNotAllowed",
    "ModelNotFound",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RequestTimeout",
    "RouteNotFound",
    "SinkUnavailable",
    "TransformFailed",
    "Unprocessable",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "UsageLimited",
    "error_for_upstream_status",
    "error_from_upstream_body",
]


class GatewayError(Exception):
    """Base of every error a client may see. ``str(err)`` is the message shown to the client."""

    status: int = 500
    kind: str = "api_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


class InvalidRequest(GatewayError):
    status = 400
    kind = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    kind = "authentication_error"


class PermissionDenied(GatewayError):
    status = 403
    kind = "permission_error"


class NotFound(GatewayError):
    status = 404
    kind = "not_found_error"


class RouteNotFound(NotFound):
    pass


class ModelNotFound(NotFound):
    def __init__(self, model: str, available: list[str], patterns: Sequence[str] = ()) -> None:
        shown = ", ".join(available) if available else "(none configured)"
        if patterns:
            shown += f"; and names matching {', '.join(patterns)}"
        super().__init__(
            f"The model '{model}' does not exist on this gateway. Available models: {shown}.",
            param="model",
            code="model_not_found",
        )
        self.model = model
        self.available = available


class MethodNotAllowed(GatewayError):
    status = 405
    kind = "invalid_request_error"


class RequestTimeout(GatewayError):
    """The client was too slow sending its request (not the backend answering it: that is
    UpstreamTimeout)."""

    status = 408
    kind = "request_timeout"  # named like Anthropic's request_too_large; not the upstream's

    def __init__(self, message: str) -> None:
        super().__init__(message, code="request_timeout")


class PayloadTooLarge(GatewayError):
    status = 413
    kind = "request_too_large"


class Unprocessable(GatewayError):
    status = 422
    kind = "invalid_request_error"


class RateLimited(GatewayError):
    status = 429
    kind = "rate_limit_error"


class UsageLimited(RateLimited):
    """The subscription behind a sink has used up a window (five hours, seven days) or would
    spend overage the configuration refuses; ``retry-after`` says when it resets."""

    def __init__(self, message: str, *, resets_at: float | None = None, now: float) -> None:
        headers = {}
        if resets_at is not None and resets_at > now:
            headers["retry-after"] = str(max(1, round(resets_at - now)))
        super().__init__(message, code="usage_limit_reached", headers=headers)
        self.resets_at = resets_at


class BudgetExceeded(RateLimited):
    """A key or its team has spent its budget for the day, week or month (docs/teams.md#budgets);
    ``retry-after`` says when it resets."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        headers = {"retry-after": str(max(1, round(retry_after)))}
        super().__init__(message, code="budget_exceeded", headers=headers)


class Overloaded(GatewayError):
    """Too many requests in flight for a sink. Anthropic clients see 529, OpenAI clients 429."""

    status = 529
    kind = "overloaded_error"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        seconds = max(1, round(retry_after))
        super().__init__(message, headers={"retry-after": str(seconds)})
        self.retry_after = seconds


class UpstreamError(GatewayError):
    status = 502
    kind = "api_error"


class UpstreamUnreachable(UpstreamError):
    """No answer at all: the connection was refused, failed or dropped before a response."""


class SinkUnavailable(GatewayError):
    status = 503
    kind = "api_error"


class LimitsUnavailable(SinkUnavailable):
    """Redis, where the keys' limits are counted, cannot be reached and ``state.on_unavailable``
    is ``closed``."""


class UpstreamTimeout(GatewayError):
    status = 504
    kind = "timeout_error"


class TransformFailed(GatewayError):
    status = 500
    kind = "api_error"


_BY_UPSTREAM_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: RateLimited,
    504: UpstreamTimeout,
    529: Overloaded,
}


def error_for_upstream_status(status: int, message: str) -> GatewayError:
    """The error to show a client when a backend answered ``status`` with ``message``.

    Client errors keep their status (the client can fix them); server errors become 502.
    """
    cls = _BY_UPSTREAM_STATUS.get(status)
    if cls is Overloaded:
        return Overloaded(message)
    if cls is not None:
        return cls(message)
    return UpstreamError(f"The upstream answered {status}: {message}")


def error_from_upstream_body(
    status: int, raw: bytes, headers: Mapping[str, str] | None = None
) -> GatewayError:
    """The error for an upstream's non-2xx answer; reads both the OpenAI and Anthropic shapes.
    The upstream's ``retry-after`` goes along: the client's SDK waits as long as it says."""
    message = raw.decode("utf-8", "replace")[:2000] or f"HTTP {status}"
    with contextlib.suppress(ValueError, KeyError, TypeError):
        message = json.loads(raw)["error"]["message"]
    error = error_for_upstream_status(status, message)
    for name in _RETRY_HEADERS:
        value = headers.get(name) if headers is not None else None
        if value:
            error.headers[name] = value
    return error


# What the OpenAI and Anthropic SDKs read before retrying (seconds or a date; milliseconds).
_RETRY_HEADERS = ("retry-after", "retry-after-ms")
