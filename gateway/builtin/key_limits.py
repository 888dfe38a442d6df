"""The limits of named keys, as a built-in plugin so that its counters (or its Redis client)
survive reloads: each start or reload hands it the ``state`` section to count in."""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..hookspecs import hookimpl
from ..server.plugins import builtin_plugin
from ..teams.limiter import Limiter

__all__ = ["KeyLimits", "limiter_of"]


class KeyLimits:
    def __init__(self) -> None:
        self.limiter = Limiter()

    @hookimpl
    async def gateway_startup(self, config: Config) -> None:
        await self.limiter.configure(config.state, config.limits.request_timeout)

    @hookimpl
    async def gateway_shutdown(self) -> None:
        await self.limiter.close()


def limiter_of(plugins: Any) -> Limiter | None:
    plugin = builtin_plugin(plugins, KeyLimits)
    return plugin.limiter if plugin is not None else None
