"""Waiting for an event in a test: poll until it has happened, with a generous bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """The first truthy value of ``predicate``; fails the test naming ``what`` after
    ``timeout`` seconds without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
