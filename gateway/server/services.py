"""The app's services: the key limiter and the budgets (counted in the limiter's state store),
the metrics registry, the usage ledger, the health of routing's targets, the store of OpenAI
Responses and the exporter of traces.

Opened when the server starts, configured again by every reload (counters, the Redis client
and the ledger's store survive one that keeps their settings), closed at shutdown. The request
path uses the limiter itself; the built-in plugins feed the metrics and the ledger from their
hooks, and receive the services in ``gateway_startup`` as any plugin can; the Responses
endpoints read and write the response store.
"""

from __future__ import annotations

from ..config import Config
from ..flow.targets import TargetHealth
from ..ledger.service import Ledger
from ..response_store.service import ResponseStore
from ..teams.budgets import Budgets
from ..teams.limiter import Limiter
from ..tracing.service import Tracing
from .metrics import MetricsRegistry

__all__ = ["Services"]


class Services:
    def __init__(self) -> None:
        self.limiter = Limiter()
        limiter = self.limiter
        self.budgets = Budgets(lambda: limiter.state, lambda: limiter.options.on_unavailable)
        self.metrics = MetricsRegistry()
        self.ledger = Ledger()
        #: Cooldowns, probes and requests in flight of each target (flow/targets.py).
        self.targets = TargetHealth()
        self.responses = ResponseStore()
        #: OpenTelemetry traces, when an endpoint is configured (gateway/tracing/).
        self.tracing = Tracing()

    async def configure(self, config: Config) -> None:
        """Takes a configuration, at start and after each reload."""
        await self.limiter.configure(config.state, config.limits.request_timeout)
        self.budgets.configure(config.keys, dict(config.teams), config.budgets)
        await self.ledger.configure(config)
        self.targets.configure(config.routing)
        await self.responses.configure(config)
        await self.tracing.configure(config.tracing)

    async def close(self) -> None:
        await self.tracing.close()
        await self.responses.close()
        await self.ledger.close()
        await self.limiter.close()
