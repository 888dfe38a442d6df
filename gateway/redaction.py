"""URLs fit to be shown: in a log line, /status, the dashboard or an error message."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["shown_url"]

# Query parameters that carry a secret in the URLs the gateway is configured with: libpq's
# and redis-py's passwords, and the API keys some upstreams take in the query.
_SECRET_PARAMETERS = frozenset(
    {"password", "sslpassword", "api_key", "apikey", "api-key", "key", "token", "access_token"}
)


def shown_url(url: str) -> str:
    """``url`` without its secrets: the password of its user part is left out, and the value
    of a query parameter named like a password, key or token is ``redacted``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that cannot be read)"
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at:
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in _SECRET_PARAMETERS for name, _ in pairs):
            query = urlencode(
                [(n, "redacted" if n.lower() in _SECRET_PARAMETERS else v) for n, v in pairs]
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
