"""The usage ledger: one row per request in SQLite or PostgreSQL, read by ``gateway usage``
and ``/dashboard`` (docs/usage.md)."""
