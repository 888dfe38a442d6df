"""What plugins see of a request: its envelope and its outcome, never the conversation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from . import ir

__all__ = ["Attempt", "Exchange", "Identity", "sees_every_key"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent a request, as an authentication hook returns it: a named key (its limits, the
    ledger and /metrics count under its name) and what it may use. An auth hook may return any
    other value to accept a request; it then names no key and may use everything."""

    key_name: str | None = None
    #: Glob patterns of the models it may use; None: any.
    models: tuple[str, ...] | None = None
    #: Paths it may call (``/prefix/*`` for a subtree); None: any.
    routes: tuple[str, ...] | None = None
    #: Sees the usage of every key on the dashboard; any other key sees its own.
    admin: bool = False

    def allows_model(self, model: str) -> bool:
        return self.models is None or any(fnmatchcase(model, m) for m in self.models)

    def allows_route(self, path: str) -> bool:
        if self.routes is None:
            return True
        return any(path == r or (r.endswith("/*") and path.startswith(r[:-1])) for r in self.routes)


def sees_every_key(identity: Any) -> bool:
    """Whether a caller may see every key's usage (the dashboard, /metrics, /status): an admin
    key, the gateway's own token, a plugin's identity that names no key, or no identity at all
    (a gateway without a token, on this machine). Any other named key sees its own."""
    if not isinstance(identity, Identity):
        return True
    return identity.admin or identity.key_name is None


@dataclass(slots=True)
class Attempt:
    """One try of a target for a request (routing may try several: docs/configuration.md)."""

    sink: str
    model: str
    started: float
    ended: float | None = None
    #: The kind of failure that ended it (``overloaded``, ``connect``, ...); None: it answered.
    error: str | None = None


@dataclass(slots=True)
class Exchange:
    """One request through the gateway, filled in as it goes; handed to every hook.

    ``headers`` are the inbound headers (lower-case names). ``identity`` is what the accepting
    authentication hook returned (an :class:`Identity`, or any value a plugin chose). Message
    content is deliberately not here.
    """

    id: str
    method: str
    path: str
    headers: Mapping[str, str]
    remote_addr: str
    started: float = field(default_factory=time.perf_counter)
    route: str | None = None
    endpoint: str | None = None
    #: Monitoring traffic (health checks, /metrics, /status, the dashboard), not usage.
    monitoring: bool = False
    identity: Any = None
    #: The name of the client key that was accepted (never the key itself): the identity's.
    key_name: str | None = None
    model: str | None = None
    target_model: str | None = None
    sink: str | None = None
    #: The target that answered, as ``sink/model``.
    target: str | None = None
    #: Every try of a target, in order (more than one when routing retried or moved on).
    attempts: list[Attempt] = field(default_factory=list)
    #: The subscription windows the serving sink last heard of: ``status`` and the share of
    #: the ``five_hour`` and ``seven_day`` windows used; None with an API key.
    subscription: Mapping[str, Any] | None = None
    stream: bool = False
    passthrough: bool = False
    status: int | None = None
    #: The whole response has been sent (a client that hangs up after it is no error).
    complete: bool = False
    error_type: str | None = None
    first_byte: float | None = None
    finished: float | None = None
    usage: ir.Usage | None = None
    #: In US dollars, from the price table (docs/usage.md#prices), else as the sink reported
    #: it; None when the model that answered has no price.
    cost_usd: float | None = None
    #: The model as the backend named it in its answer (``claude-opus-5-5`` for ``opus``).
    response_model: str | None = None
    #: Why the answer ended: ``end_turn``, ``max_tokens``, ``tool_use`` ...; a relayed OpenAI
    #: answer's own words (``stop``, ``length``).
    finish_reason: str | None = None
    #: Headers the gateway adds to its answer (``x-gateway-dropped-tools``).
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def caller(self) -> str:
        """An opaque name of who sent the request, equal for every request of one caller: a
        named key by its name, the shared token as one caller, a plugin's identity by its
        ``repr`` (an object without a ``repr`` of its own is never equal to another), and ""
        when the gateway asks for no authentication."""
        identity = self.identity
        if isinstance(identity, Identity):
            return f"key:{identity.key_name}" if identity.key_name is not None else "token"
        if identity is None:
            return ""
        if type(identity).__repr__ is object.__repr__:
            return f"object:{uuid.uuid4()}"
        return f"identity:{identity!r}"

    @property
    def session_hint(self) -> str | None:
        """The client's own name for its conversation, if it sends one (Claude Code does)."""
        return self.headers.get("x-claude-code-session-id") or None

    @property
    def latency_ms(self) -> float | None:
        return None if self.finished is None else (self.finished - self.started) * 1000

    @property
    def ttfb_ms(self) -> float | None:
        return None if self.first_byte is None else (self.first_byte - self.started) * 1000
