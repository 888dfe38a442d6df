"""``/dashboard``: a page of live charts drawn from the usage ledger (docs/usage.md)."""

from .pages import DASHBOARD_ENDPOINTS

__all__ = ["DASHBOARD_ENDPOINTS"]
