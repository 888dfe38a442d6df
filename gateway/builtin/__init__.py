"""Built-in behaviour, registered as ordinary plugins so that users can see and replace it.

The plugin manager loads this package by name, as it loads any plugin module, so nothing of the
core imports it: a plugin that replaces a built-in (``pm.unregister(name=...)`` then its own)
gets the same services and hooks the built-in had.
"""

from __future__ import annotations

from typing import Any

from .access_log import AccessLog
from .endpoints import BuiltinEndpoints
from .metrics import Metrics
from .sinks import BuiltinSinks
from .token_auth import TokenAuth
from .traces import Traces
from .usage_ledger import UsageLedger

__all__ = ["default_plugins"]


def default_plugins() -> list[Any]:
    """New instances of the built-in plugins, in the order they are registered."""
    return [
        BuiltinSinks(), BuiltinEndpoints(), TokenAuth(), AccessLog(), Metrics(), UsageLedger(),
        Traces(),
    ]  # fmt: skip
