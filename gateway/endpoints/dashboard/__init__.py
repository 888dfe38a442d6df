"""``/dashboard``: a page of live charts drawn from the usage ledger (docs/usage.md)."""

from .pages import serve_dashboard

__all__ = ["serve_dashboard"]
