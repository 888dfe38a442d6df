"""URLs fit to be shown: in a log line, /status, the dashboard or an error message."""

from __future__ import annotations

import re

__all__ = ["shown_url"]

# Query parameters that carry a secret in the URLs the gateway is configured with: libpq's
# and redis-py's passwords, and the API keys some upstreams take in the query.
_SECRET_QUERY = re.compile(
    r"([?&](?:password|sslpassword|api_key|apikey|api-key|key|token|access_token)=)[^&#]*",
    re.IGNORECASE,
)


def shown_url(url: str) -> str:
    """``url`` without its secrets, and otherwise as written: the password of its user part is
    left out, and the value of a query parameter named like a password, key or token is
    ``redacted``."""
    start = url.find("://") + 3
    if start >= 3:
        ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
        end = min(ends, default=len(url))
        userinfo, at, host = url[start:end].rpartition("@")
        if at and ":" in userinfo:
            url = f"{url[:start]}{userinfo.split(':', 1)[0]}@{host}{url[end:]}"
    return _SECRET_QUERY.sub(r"\1redacted", url)
