"""Finding the ``claude`` binary and asking it its version."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .child_process import run_to_end

__all__ = ["INSTALL_HINT", "TESTED_VERSION", "ClaudeBinary", "find_claude", "locate"]

#: The CLI version the gateway's behaviour is tested against (the one claude-agent-sdk 0.2.187
#: bundles). Other versions may work; /status reports which one runs.
TESTED_VERSION = "2.1.330"

INSTALL_HINT = (
    "Install it with `pip install claude-agent-sdk` (it bundles the binary) or "
    "`npm install -g @anthropic-ai/claude-code`, or set `binary:` on the sink in routes.yaml."
)


@dataclass(frozen=True, slots=True)
class ClaudeBinary:
    path: str | None
    source: str  # "config", "PATH", "claude-agent-sdk" or "missing"
    version: str | None = None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.path is not None and self.error is None


def _bundled() -> str | None:
    # Located without importing the SDK, which weighs ~35 MiB.
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "_bundled" / "claude"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def locate(configured: str | None) -> str | None:
    return _candidate(configured)[0]


def _candidate(configured: str | None) -> tuple[str | None, str]:
    """An explicit ``binary:`` wins; then ``claude`` on PATH; then the SDK's bundled binary."""
    if configured:
        return configured, "config"
    on_path = shutil.which("claude")
    if on_path:
        return on_path, "PATH"
    bundled = _bundled()
    if bundled:
        return bundled, "claude-agent-sdk"
    return None, "missing"


async def find_claude(configured: str | None, *, timeout: float = 15.0) -> ClaudeBinary:
    path, source = _candidate(configured)
    if path is None:
        return ClaudeBinary(None, source, error=f"No `claude` binary was found. {INSTALL_HINT}")
    try:
        # On a timeout its process group is killed and reaped: a hung binary is not left behind.
        code, out, err = await run_to_end([path, "--version"], timeout=timeout)
    except TimeoutError:
        return ClaudeBinary(
            path, source, error=f"`{path} --version` did not answer within {timeout:g} s"
        )
    except OSError as exc:
        return ClaudeBinary(path, source, error=f"`{path} --version` failed: {exc}. {INSTALL_HINT}")
    if code != 0:
        detail = (err or out).decode("utf-8", "replace").strip()[:300]
        return ClaudeBinary(path, source, error=f"`{path} --version` exited {code}: {detail}")
    version = out.decode("utf-8", "replace").split()[0] if out.strip() else None
    return ClaudeBinary(path, source, version)
