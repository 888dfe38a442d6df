"""The checks a schema cannot make: references between sections, names taken twice."""

from __future__ import annotations

from .model import Config
from .targets import TargetSpec
from .yaml_source import JsonPath, Problem

__all__ = ["check_references"]

# Routes the MCP endpoint offers as tools.
_TOOL_DIALECTS = ("custom", "tool.file_read", "tool.bash")


def check_references(config: Config, invalid_sinks: frozenset[str] = frozenset()) -> list[Problem]:
    """``invalid_sinks``: sinks defined with a problem of their own, left out of ``config``."""
    problems: list[Problem] = []
    known = ", ".join(sorted({*config.sinks, *invalid_sinks}))

    def sink_exists(name: str | None, path: JsonPath) -> None:
        if name is not None and name not in config.sinks and name not in invalid_sinks:
            problems.append(config.problem(path, f"'{name}' is not a defined sink ({known})"))

    def targets_exist(targets: tuple[TargetSpec, ...], path: JsonPath) -> None:
        for j, target in enumerate(targets):
            sink_exists(target.sink, (*path, "targets", j, "sink"))

    sink_exists(config.document.data.get("default_sink"), ("default_sink",))
    for i, model in enumerate(config.models):
        sink_exists(model.sink, ("models", i, "sink"))
        targets_exist(model.targets, ("models", i))
        for j, rule in enumerate(model.rules):
            targets_exist(rule.targets, ("models", i, "rules", j))
    problems += _rule_references(config)
    seen_names: dict[str, int] = {}
    for i, model in enumerate(config.models):
        for j, name in enumerate(filter(None, (model.name, *model.aliases))):
            path: JsonPath = ("models", i, "name") if j == 0 else ("models", i, "aliases", j - 1)
            if name in seen_names:
                problems.append(
                    config.problem(
                        path, f"'{name}' is already defined by models[{seen_names[name]}]"
                    )
                )
            seen_names.setdefault(name, i)
    seen_paths: dict[str, int] = {}
    for i, route in enumerate(config.routes):
        sink_exists(route.sink, ("routes", i, "sink"))
        targets_exist(route.targets, ("routes", i))
        if route.path in seen_paths:
            problems.append(
                config.problem(
                    ("routes", i, "path"),
                    f"'{route.path}' is already routed by routes[{seen_paths[route.path]}]",
                )
            )
        seen_paths.setdefault(route.path, i)
        for side in ("request", "response"):
            names = route.request_transforms if side == "request" else route.response_transforms
            for j, name in enumerate(names):
                if name not in config.transforms:
                    problems.append(
                        config.problem(
                            ("routes", i, "transforms", side, j),
                            f"'{name}' is not a defined transform",
                        )
                    )
    for i, mount in enumerate(config.mounts):
        sink_exists(mount.sink, ("mounts", i, "sink"))
        targets_exist(mount.targets, ("mounts", i))
    for i, route in enumerate(config.routes):
        if route.tool and not route.dialect.startswith("tool."):
            problems.append(
                config.document.problem(
                    ("routes", i, "tool"),
                    "only the routes of dialect tool.file_read and tool.bash take tool options",
                    at_key=True,
                )
            )
    tool_names: dict[str, int] = {}
    for i, route in enumerate(config.routes):
        if route.dialect not in _TOOL_DIALECTS:
            continue
        if route.tool_name in tool_names:
            problems.append(
                config.problem(
                    ("routes", i, "name" if route.name else "path"),
                    f"the MCP tool name '{route.tool_name}' is already taken by "
                    f"routes[{tool_names[route.tool_name]}]; give this route a name:",
                )
            )
        tool_names.setdefault(route.tool_name, i)
    return problems


def _rule_references(config: Config) -> list[Problem]:
    """A rule's ``use`` names a model entry by its name or an alias, and not its own entry."""
    entries = {
        name: i for i, m in enumerate(config.models) for name in (m.name, *m.aliases) if name
    }
    problems = []
    for i, model in enumerate(config.models):
        for j, rule in enumerate(model.rules):
            if rule.use is None:
                continue
            if rule.use not in entries:
                known = ", ".join(entries) or "none"
                message = f"'{rule.use}' is not the name or an alias of a model entry ({known})"
                problems.append(config.problem(("models", i, "rules", j, "use"), message))
            elif entries[rule.use] == i:
                message = f"'{rule.use}' is this entry itself: name another entry"
                problems.append(config.problem(("models", i, "rules", j, "use"), message))
    return problems
