"""``gateway serve --workers N``: Sanic's multi-process mode, N workers on one port.

Each worker is a process of its own that builds its app from routes.yaml (Sanic starts them
with ``spawn``), so each has its own sinks: CLI-sink concurrency and warm pools are per worker
(docs/teams.md). What must be shared is: key limits (``state.url``: Redis) and ``/metrics``
(prometheus-client's multiprocess mode, in a directory made here and removed at exit) and the
key signing dashboard sessions.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from sanic import Sanic
from sanic.worker.loader import AppLoader

from .context import SESSION_SECRET
from .metrics import MULTIPROCESS_DIR

__all__ = ["serve_workers"]


def serve_workers(factory: Callable[[], Any], host: str, port: int, workers: int) -> int:
    made = None
    if not os.environ.get(MULTIPROCESS_DIR):
        made = tempfile.mkdtemp(prefix="gateway-metrics-")
        os.environ[MULTIPROCESS_DIR] = made  # inherited by the workers
    # One key for every worker: a dashboard session made by one is accepted by the others.
    os.environ.setdefault(SESSION_SECRET, secrets.token_hex(32))
    try:
        loader = AppLoader(factory=factory)
        app = loader.load()
        app.prepare(host=host, port=port, workers=workers, access_log=False, motd=False)
        Sanic.serve(primary=app, app_loader=loader)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
    return 0
