"""The dashboard's session: a signed, expiring cookie that names who logged in, never holding the
credential they logged in with.

The cookie is ``<payload>.<signature>``: the payload is base64url JSON ``{"sid", "key", "kind",
"fp", "exp"}`` and the signature its HMAC-SHA256 under the gateway's session secret
(``GatewayContext.session_secret``: ``$GATEWAY_SESSION_SECRET``, else drawn at start and shared
by the workers of one ``gateway serve``).

- ``sid``: a random id of this login (for logs; nothing stores it).
- ``key``: the name of the key that logged in (its identity, and whatever is derived from it,
  comes from the configuration as it is now), or null for ``auth.token`` and plugin credentials.
- ``kind``: ``key`` (a key of ``auth.keys``), ``token`` (``auth.token``) or ``plugin`` (a
  credential only a plugin's auth hook accepted).
- ``fp``: a keyed fingerprint of the credential, so a session ends when its key or token is
  changed or removed from routes.yaml. A plugin's credential cannot be judged again without
  itself: its session lasts until it expires.
- ``exp``: unix time after which the session is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ...config import Config
from ...exchange import Identity

__all__ = ["LIFETIME", "Session", "issue", "kind_of", "read"]

#: Seconds a login lasts.
LIFETIME = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    #: The name of the key that logged in; None for auth.token or a plugin's credential.
    key_name: str | None
    kind: str
    expires: float

    def identity(self, config: Config) -> Identity:
        """What this session may see, from the configuration as it is now."""
        key = config.keys.get(self.key_name)
        return key.identity if key is not None else Identity(self.key_name)


def kind_of(config: Config, credential: str) -> str:
    """Which of routes.yaml's credentials ``credential`` is: ``key``, ``token`` or ``plugin``."""
    if config.keys.find(credential) is not None:
        return "key"
    presented = credential.encode("utf-8", "surrogateescape")
    if config.auth_token and hmac.compare_digest(presented, config.auth_token.encode()):
        return "token"
    return "plugin"


def issue(
    secret: bytes, credential: str, key_name: str | None, kind: str, now: float | None = None
) -> str:
    """The cookie value of a new session for ``credential``, accepted as ``key_name``."""
    digest = hashlib.sha256(credential.encode("utf-8", "surrogateescape")).digest()
    payload = {
        "sid": secrets.token_urlsafe(12),
        "key": key_name,
        "kind": kind,
        "fp": _fingerprint(secret, digest),
        "exp": int((time.time() if now is None else now) + LIFETIME),
    }
    body = _encode(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_sign(secret, body)}"


def read(secret: bytes, cookie: str, config: Config, now: float | None = None) -> Session | None:
    """The session ``cookie`` holds, if its signature is good, it has not expired and its
    credential is still one routes.yaml accepts; None otherwise."""
    body, _, signature = cookie.partition(".")
    if not body or len(cookie) > 2048 or not cookie.isascii():
        return None
    if not hmac.compare_digest(signature.encode(), _sign(secret, body).encode()):
        return None
    try:
        payload = json.loads(_decode(body))
        session = Session(payload["sid"], payload["key"], payload["kind"], float(payload["exp"]))
        fingerprint = payload["fp"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    if session.expires <= (time.time() if now is None else now):
        return None
    if not _still_accepted(secret, session, fingerprint, config):
        return None
    return session


def _still_accepted(secret: bytes, session: Session, fingerprint: Any, config: Config) -> bool:
    if session.kind == "key":
        key = config.keys.get(session.key_name)
        current = None if key is None else _fingerprint(secret, key.digest)
    elif session.kind == "token":
        token = config.auth_token
        digest = hashlib.sha256(token.encode()).digest() if token else None
        current = None if digest is None else _fingerprint(secret, digest)
    else:
        return session.kind == "plugin"
    return (
        current is not None
        and isinstance(fingerprint, str)
        and hmac.compare_digest(current.encode(), fingerprint.encode())
    )


def _fingerprint(secret: bytes, credential_digest: bytes) -> str:
    return hmac.new(secret, b"credential:" + credential_digest, hashlib.sha256).hexdigest()[:32]


def _sign(secret: bytes, body: str) -> str:
    return _encode(hmac.new(secret, b"session:" + body.encode(), hashlib.sha256).digest())


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
