"""Whether the ``claude`` binary can reach Claude: a login or an API key, from ``claude auth
status``. Checked when a sink starts and again, in the background, when /status finds the last
answer older than :data:`RECHECK_AFTER` (a login done while the gateway runs is seen)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .child_process import run_to_end

__all__ = ["LOGIN_HINT", "RECHECK_AFTER", "LoginState", "check_login"]

RECHECK_AFTER = 30.0
_TIMEOUT = 15.0
LOGIN_HINT = (
    "run `gateway claude auth login` (or `claude auth login`) on the gateway host, or set "
    "ANTHROPIC_API_KEY in the gateway's environment or the sink's env"
)


@dataclass(frozen=True, slots=True)
class LoginState:
    #: None when the state could not be read (an older binary, a timeout).
    logged_in: bool | None
    method: str | None = None  # "api_key", "claude.ai", ...
    error: str | None = None
    checked_at: float = 0.0

    @property
    def problem(self) -> str | None:
        if self.logged_in is False:
            return f"claude is not logged in: {LOGIN_HINT}"
        return None

    def as_status(self) -> dict[str, object]:
        return {"logged_in": self.logged_in, "method": self.method, "error": self.error}


async def check_login(binary: str, sink_env: Mapping[str, str]) -> LoginState:
    """The login the sink's runs would use: the gateway's environment plus the sink's ``env``."""
    env = {**os.environ, **sink_env, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    now = time.monotonic()
    if env.get("ANTHROPIC_API_KEY"):
        # The CLI uses it over any login (`claude auth status`: apiKeySource ANTHROPIC_API_KEY);
        # whether the key is valid only the upstream can say.
        return LoginState(True, "api_key", checked_at=now)
    try:
        _, out, err = await run_to_end(
            [binary, "auth", "status", "--json"], env=env, timeout=_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        return LoginState(None, error=f"`claude auth status` failed: {exc!r}", checked_at=now)
    try:
        report = json.loads(out)
        logged_in = report["loggedIn"]
    except (ValueError, KeyError, TypeError):
        detail = (err or out).decode("utf-8", "replace").strip()[:300]
        return LoginState(
            None, error=f"`claude auth status` gave no state: {detail}", checked_at=now
        )
    return LoginState(bool(logged_in), report.get("authMethod"), checked_at=now)
