"""Serving beyond localhost: the public URL, CORS for browsers and editors, trusted proxies.

Pure: reads a request's peer address and headers, returns decisions. No Sanic.

- Without ``auth.token`` only requests addressed to localhost are served (no DNS rebinding, no
  cross-site forms). With a ``public_url`` (a tunnel for Cursor, whose requests come from its
  own servers) that host is served too, and a token is required.
- CORS: browsers and editors (the preflight of Cursor's "Verify" button) from ``cors_origins``
  get the ``Access-Control-*`` headers; others get none, so their browser refuses the answer.
  A preflight allows ``cors_methods`` and ``cors_headers`` when routes.yaml sets them.
- ``X-Forwarded-For`` is believed only from ``trusted_proxies`` (for the client's address in
  logs). ``X-Forwarded-Host`` never is: any local process or rebound page connects from a
  trusted loopback address too, so the Host check reads the Host header alone (a proxy in
  front must pass the Host through).
- Without a token, CORS headers go only to the origins ``cors_origins`` names (``"*"`` needs a
  token): a page that can read answers could spend the user's plan.
- Host and Origin are read strictly (:func:`host_name`, :func:`origin_host`): a value with
  userinfo (``localhost:80@evil.com``), a path, or anything but a name or address and a port is
  not a host at all, whatever a lenient parser would make of it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["LOCAL_NAMES", "Exposure", "host_name", "is_loopback", "origin_host"]

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_ALLOWED_HEADERS = (
    "authorization, content-type, x-api-key, anthropic-version, anthropic-beta, "
    "openai-organization, openai-project"
)
_HEADER_LIST = re.compile(r"[A-Za-z0-9-]+(\s*,\s*[A-Za-z0-9-]+)*")
_EXPOSED_HEADERS = (
    "x-gateway-dropped-tools, retry-after, request-id, "
    "x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, "
    "x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, "
    "anthropic-ratelimit-requests-limit, anthropic-ratelimit-requests-remaining, "
    "anthropic-ratelimit-requests-reset, anthropic-ratelimit-tokens-limit, "
    "anthropic-ratelimit-tokens-remaining, anthropic-ratelimit-tokens-reset"
)
_METHODS = "GET, POST, OPTIONS"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A Host header as RFC 9110 allows it in practice: a DNS name or IPv4 address, or an IPv6
# address in brackets, then an optional port. Userinfo, paths and percent-encoding are refused.
_HOST = re.compile(r"(?P<name>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?|\[[0-9A-Fa-f:.]+\])"
                   r"(?::[0-9]{1,5})?")  # fmt: skip
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?P<host>[^/?#@]+)")


# A gateway sees few Host and Origin values; each is read twice a request. Bounded: a client
# sending ever new ones only turns entries over.
@functools.lru_cache(maxsize=256)
def host_name(value: str) -> str | None:
    """The host of a Host header, lower-case and without port or brackets; None if the value is
    not ``name[:port]``."""
    found = _HOST.fullmatch(value)
    if found is None:
        return None
    name = found.group("name").lower()
    if name.startswith("["):
        name = name[1:-1]
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
    return name


@functools.lru_cache(maxsize=256)
def origin_host(value: str) -> str | None:
    """The host of an Origin (``scheme://host[:port]``, or ``null``: no host, "")."""
    if value == "null":
        return ""
    found = _ORIGIN.fullmatch(value)
    return None if found is None else host_name(found.group("host"))


def is_loopback(address: str) -> bool:
    """A client address of this machine (``localhost``, 127.0.0.0/8, ::1)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Exposure:
    public_url: str | None = None
    #: Origins allowed to call from a browser; ``"*"`` in it allows any.
    cors_origins: frozenset[str] = frozenset()
    trusted_proxies: tuple[IpNetwork, ...] = field(default_factory=tuple)
    #: Clients must present auth.token: only then may browsers other than those listed read.
    token_required: bool = False
    #: What a preflight allows: ``cors_methods`` (else GET, POST, OPTIONS) and ``cors_headers``
    #: (else the headers the preflight asks for, when they are a plain list of names).
    allow_methods: str = _METHODS
    allow_headers: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, object], *, token_required: bool) -> Exposure:
        """From the ``server`` section of routes.yaml (already schema-checked)."""
        proxies = tuple(
            ipaddress.ip_network(str(p), strict=False)
            for p in options.get("trusted_proxies") or ()  # type: ignore[attr-defined]
        )
        origins = frozenset(
            str(o).rstrip("/").lower()
            for o in options.get("cors_origins") or ()  # type: ignore[attr-defined]
        )
        public_url = str(options.get("public_url") or "") or None
        methods = options.get("cors_methods")
        headers = options.get("cors_headers")
        return cls(
            public_url,
            origins,
            proxies,
            token_required,
            ", ".join(methods) if methods else _METHODS,  # type: ignore[arg-type]
            ", ".join(h.lower() for h in headers) if headers else None,  # type: ignore[attr-defined]
        )

    @property
    def public_host(self) -> str | None:
        return urlsplit(self.public_url).hostname if self.public_url else None

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    def client_address(self, peer: str, headers: Mapping[str, str]) -> str:
        """The client's address: the peer, or behind trusted proxies the last address in
        ``X-Forwarded-For`` that is not one of them."""
        forwarded = headers.get("x-forwarded-for")
        if not forwarded or not self._trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self._trusted(hop):
                return hop
        return peer

    def serves_host(self, host: str) -> bool:
        name = host_name(host)
        return name is not None and (name in LOCAL_NAMES or name == self.public_host)

    def allows_origin(self, origin: str) -> bool:
        if origin == "null":  # sandboxed pages and local files: anyone can make one
            return False
        name = origin_host(origin)
        if not name:  # not an origin at all
            return False
        origin = origin.lower()
        local = name in LOCAL_NAMES
        public = self.public_url is not None and origin == self.public_url.rstrip("/").lower()
        return local or public or "*" in self.cors_origins or origin in self.cors_origins

    def may_read(self, origin: str) -> bool:
        """Whether a browser page of ``origin`` may read answers (CORS)."""
        if not self.token_required:
            return origin.rstrip("/").lower() in self.cors_origins
        return self.allows_origin(origin)

    def cors_headers(
        self, origin: str | None, *, preflight: bool, requested_headers: str | None = None
    ) -> dict[str, str]:
        """``Access-Control-*`` headers for an answer to ``origin`` (none if not allowed); a
        preflight's own list of headers is echoed when it is a plain list of names."""
        if not origin or not self.may_read(origin):
            return {}
        headers = {"access-control-allow-origin": origin, "vary": "origin"}
        if preflight:
            headers["access-control-allow-methods"] = self.allow_methods
            asked = (requested_headers or "").strip()
            if self.allow_headers is not None:
                headers["access-control-allow-headers"] = self.allow_headers
            else:
                headers["access-control-allow-headers"] = (
                    asked if asked and _HEADER_LIST.fullmatch(asked) else _ALLOWED_HEADERS
                )
            headers["access-control-max-age"] = "600"
        else:
            headers["access-control-expose-headers"] = _EXPOSED_HEADERS
        return headers
