"""A Runtime is one loaded configuration made live: its routes, models, started sinks,
transforms and plugins, the one consistent set a request sees from its start to its end.

The app holds exactly one current Runtime. A reload builds a new one next to it and swaps it in;
requests already running keep the Runtime they started with, and sinks that the new
configuration no longer uses are closed once the last of those requests has finished.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping

import pluggy

from ..config import Config, SinkConfig, validate_with_schema
from ..config.routing import Facts, ModelTable, Plan
from ..config.yaml_source import ConfigError, Problem
from ..errors import InvalidRequest
from ..flow.endpoints import EndpointTable
from ..flow.routes import Route, Router
from ..pipeline.transforms import Pipeline
from ..sinks.base import Sink
from .plugins import sink_kinds
from .services import Services

__all__ = ["Runtime", "Runtimes", "build_runtime", "build_sinks"]

log = logging.getLogger("gateway")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def build_sinks(
    config: Config, pm: pluggy.PluginManager, reuse: Mapping[str, Sink] | None = None
) -> dict[str, Sink]:
    """One Sink per configured sink; an unchanged one is taken from ``reuse`` as it is."""
    kinds = sink_kinds(pm)
    problems: list[Problem] = []
    sinks: dict[str, Sink] = {}
    for name, sink_config in config.sinks.items():
        previous = (reuse or {}).get(name)
        if previous is not None and _same(previous.config, sink_config):
            sinks[name] = previous
            continue
        cls = kinds.get(sink_config.kind)
        if cls is None:
            known = ", ".join(sorted(kinds))
            problems.append(
                config.problem(
                    (*sink_config.path, "kind"), f"unknown sink kind '{sink_config.kind}' ({known})"
                )
            )
            continue
        schema = getattr(cls, "options_schema", None)
        found = (
            validate_with_schema(
                config.document, {"kind": sink_config.kind, **sink_config.options}, schema,
                sink_config.path,
            )
            if schema
            else []
        )  # fmt: skip
        if found:
            problems += found
            continue
        try:
            sinks[name] = cls(sink_config)
        except ValueError as exc:
            problems.append(config.problem(sink_config.path, str(exc)))
            continue
        if previous is not None:  # what it last heard of its subscription still holds
            sinks[name].quota = previous.quota
    if problems:
        raise ConfigError(problems)
    return sinks


def build_runtime(
    config: Config,
    pm: pluggy.PluginManager,
    previous: Runtime | None = None,
    services: Services | None = None,
) -> Runtime:
    """Everything a configuration needs to serve, checked; sinks of ``previous`` are reused.
    ``services``: the app's (new ones for a command that serves nothing)."""
    problems: list[Problem] = []
    sinks: dict[str, Sink] = {}
    pipeline = router = None
    try:
        sinks = build_sinks(config, pm, previous.sinks if previous else None)
    except ConfigError as error:
        problems += error.problems
    try:
        pipeline = Pipeline.load(config)
    except ConfigError as error:
        problems += error.problems
    endpoints = endpoint_table(pm)
    problems += _route_problems(config, endpoints)
    try:
        router = Router(config, endpoints)
    except ConfigError as error:
        problems += error.problems
    if problems or pipeline is None or router is None:
        raise ConfigError(problems)
    return Runtime(config, sinks, pipeline, pm, router, services or Services())


def endpoint_table(pm: pluggy.PluginManager) -> EndpointTable:
    """Every endpoint the plugins register (the built-in ones through the built-in plugin)."""
    return EndpointTable(
        endpoint for registered in pm.hook.gateway_register_endpoints() for endpoint in registered
    )


def _route_problems(config: Config, endpoints: EndpointTable) -> list[Problem]:
    """What each route's endpoint refuses in its options (a shell on a tool.bash allowlist)."""
    problems = []
    for i, route in enumerate(config.routes):
        endpoint = endpoints.get(route.dialect)
        check = endpoint.check if endpoint is not None else None
        if check is not None:
            problems += [config.problem(("routes", i, *at), text) for at, text in check(route)]
    return problems


def readiness_summary(sinks: list[Sink]) -> tuple[str, bool]:
    """One report of which sinks can serve, each reason once for the sinks it holds back (three
    claude sinks without a login are one line), and whether all can."""
    waiting: dict[str, list[str]] = {}
    ready = []
    for sink in sinks:
        problem = sink.readiness_problem()
        name = f"{sink.name} ({sink.kind})"
        if problem is None:
            ready.append(name)
        else:
            waiting.setdefault(problem, []).append(name)
    summary = f"sinks ready: {', '.join(ready) or 'none'}"
    for problem, names in waiting.items():
        summary += f"\n  not ready: {', '.join(names)}: {problem}"
    return summary, not waiting


def _same(a: SinkConfig, b: SinkConfig) -> bool:
    return (a.kind, a.options, a.unset_env, a.when_limited, a.overage) == (
        b.kind,
        b.options,
        b.unset_env,
        b.when_limited,
        b.overage,
    )


class Runtime:
    def __init__(
        self,
        config: Config,
        sinks: dict[str, Sink],
        pipeline: Pipeline,
        plugins: pluggy.PluginManager,
        router: Router,
        services: Services,
    ) -> None:
        self.config = config
        self.router = router
        self.models = ModelTable(config.models, config.default_sink, config.routing)
        self.sinks = sinks
        self.pipeline = pipeline
        self.plugins = plugins
        #: The app's, shared by every runtime it swaps in (they outlive reloads).
        self.services = services
        self.in_flight = 0

    def resolve(self, model: str, route: Route, facts: Facts | None = None) -> Plan:
        """The plan for ``model`` on ``route``; its rules are looked at only with ``facts``."""
        if _CONTROL.search(model):  # no model is named so; a pattern would match it all the same
            raise InvalidRequest(
                f"model: {model[:100]!r} holds a control character; no model is named so",
                param="model",
            )
        return self.models.resolve(model, route.via, self._forwards_unknown, facts)

    def _forwards_unknown(self, sink: str) -> bool:
        return self.sinks[sink].forwards_unknown_models

    async def start(self, previous: Runtime | None = None) -> None:
        kept = set(map(id, previous.sinks.values())) if previous else set()
        starting = [sink for sink in self.sinks.values() if id(sink) not in kept]
        # Together: the claude sinks each ask their binary for its version and login.
        await asyncio.gather(*(sink.start() for sink in starting))
        if starting:
            summary, ready = readiness_summary(starting)
            log.log(logging.INFO if ready else logging.WARNING, "%s", summary)

    async def close(self) -> None:
        for sink in self.sinks.values():
            try:
                await sink.close()
            except Exception:
                log.exception("closing sink %s failed", sink.name)


class Runtimes:
    """The current Runtime, and the retired ones that still have requests in flight."""

    def __init__(self, current: Runtime) -> None:
        self.current = current
        self._retired: list[Runtime] = []

    def enter(self) -> Runtime:
        """The runtime a new request runs on, counted until :meth:`leave`."""
        runtime = self.current
        runtime.in_flight += 1
        return runtime

    def leave(self, runtime: Runtime) -> list[Sink]:
        """Ends a request; returns the sinks that nothing uses any more (to close)."""
        runtime.in_flight -= 1
        if runtime.in_flight == 0 and runtime in self._retired:
            return self._unused_sinks()
        return []

    def swap(self, successor: Runtime) -> list[Sink]:
        """Makes ``successor`` current; returns the sinks that nothing uses any more."""
        self._retired.append(self.current)
        self.current = successor
        return self._unused_sinks()

    def _unused_sinks(self) -> list[Sink]:
        busy = [r for r in self._retired if r.in_flight]
        idle = [r for r in self._retired if not r.in_flight]
        self._retired = busy
        in_use = {id(sink) for r in (self.current, *busy) for sink in r.sinks.values()}
        unused = {id(s): s for r in idle for s in r.sinks.values() if id(s) not in in_use}
        return list(unused.values())
