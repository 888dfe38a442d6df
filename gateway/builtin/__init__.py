"""Built-in behaviour, registered as ordinary plugins so that users can see and replace it."""

from __future__ import annotations

from typing import Any

__all__ = ["default_plugins"]


def default_plugins() -> list[Any]:
    from .access_log import AccessLog
    from .key_limits import KeyLimits
    from .metrics import Metrics
    from .sinks import BuiltinSinks
    from .token_auth import TokenAuth
    from .usage_ledger import UsageLedger

    return [BuiltinSinks(), TokenAuth(), KeyLimits(), AccessLog(), Metrics(), UsageLedger()]
