"""`gateway serve` stops on SIGTERM and SIGINT however early they come.

In one process Sanic runs its loop twice, once for its start-up events and then for good, and
it ignores SIGTERM and SIGINT from before the first; uvloop listens for signals only while its
loop runs, so a SIGTERM sent between the two runs is kept until another signal comes. Measured:
11 of 12 SIGTERMs sent the moment the gateway logged that it was serving were lost (the
process served on; a second SIGTERM stopped it), so a `systemctl stop` just after a start would
wait out its kill timeout. These handlers are Python's own, run in the main thread whether or
not the loop runs, and ask the loop to stop the app as Sanic's handlers would.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

__all__ = ["stop_on_signals"]


def stop_on_signals(app: Any) -> None:
    """An ``after_server_start`` listener (Sanic has set its own signal dispositions by then);
    the app must be run with ``register_sys_signals=False``."""
    loop = asyncio.get_running_loop()

    def stop_once_serving() -> None:
        # Sanic's stop() does nothing until the app serves, which it does when its start-up
        # events are done: a signal that comes during them is acted on right after.
        if app.state.is_running:
            app.stop(terminate=False)
        else:
            loop.call_later(0.05, stop_once_serving)

    def stop(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(stop_once_serving)

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, stop)
