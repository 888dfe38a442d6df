"""The plugin manager: built-in plugins, local plugins from hooks/, and awaiting hook results."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import pluggy

from .. import hookspecs
from ..config import Config
from ..config.yaml_source import ConfigError, Problem
from ..errors import AuthenticationFailed
from ..exchange import Identity

__all__ = [
    "BUILTIN_PACKAGE", "authenticate", "build_plugin_manager", "builtin_plugins", "notify",
    "sink_kinds",
]  # fmt: skip

#: The package of the built-in plugins, registered under names that start with it.
BUILTIN_PACKAGE = "gateway.builtin"


def build_plugin_manager(
    config: Config, *, builtins: list[Any] | None = None
) -> pluggy.PluginManager:
    """One manager per app: built-ins first, then ``hooks/`` beside routes.yaml and ``hooks:``.

    ``builtins`` are the built-in plugin objects to register (a reload passes the running
    ones, so that their state survives); by default, new ones.
    """
    pm = pluggy.PluginManager("gateway")
    pm.add_hookspecs(hookspecs)
    if builtins is None:
        # By name, as any plugin module: the core depends on no built-in (docs/hooks.md).
        builtins = importlib.import_module(BUILTIN_PACKAGE).default_plugins()
    for plugin in builtins:
        pm.register(plugin, name=f"{BUILTIN_PACKAGE}.{type(plugin).__name__}")
    try:
        for module in _local_plugins(config):
            if pm.get_plugin(module.__name__) is None:
                pm.register(module, name=module.__name__)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError([_hook_problem(config, exc)]) from None
    return pm


def _hook_problem(config: Config, error: pluggy.PluginValidationError) -> Problem:
    """A hook a plugin got wrong, at the line of the plugin that defines it."""
    message = " ".join(str(error).split())
    known = [name for name in dir(hookspecs) if name.startswith("gateway_")]
    for name, function in vars(error.plugin).items():
        if not hasattr(function, "gateway_impl") or f"'{name}'" not in message:
            continue
        if name not in known:
            message = f"'{name}' is not a gateway hook"
            close = difflib.get_close_matches(name, known, n=1)
            message += f"; did you mean '{close[0]}'?" if close else " (see docs/hooks.md)"
        else:
            spec = inspect.signature(getattr(hookspecs, name))
            message = f"{name}{inspect.signature(function)} does not match the hook {name}{spec}"
        try:
            file, line = inspect.getsourcefile(function), inspect.getsourcelines(function)[1]
        except (OSError, TypeError):
            break
        return Problem(file or "?", line, 1, "", message)
    return config.problem(("hooks",), message)


def _local_plugins(config: Config) -> list[Any]:
    entries: list[tuple[tuple[Any, ...], str]] = []
    default_dir = config.base_dir / "hooks"
    if default_dir.is_dir():
        entries.append((("hooks",), str(default_dir)))
    entries += [(("hooks", i), entry) for i, entry in enumerate(config.hooks)]
    modules, seen = [], set()
    for path, entry in entries:
        for module in _load_entry(config, path, entry):
            if module.__name__ not in seen:
                seen.add(module.__name__)
                modules.append(module)
    return modules


def _load_entry(config: Config, at: tuple[Any, ...], entry: str) -> list[Any]:
    candidate = (config.base_dir / entry).resolve()
    if candidate.is_dir():
        files = sorted(p for p in candidate.glob("*.py") if not p.name.startswith("_"))
        return [_load_file(config, at, p) for p in files]
    if candidate.suffix == ".py" or "/" in entry:
        if not candidate.is_file():
            raise ConfigError([config.problem(at, f"no plugin file or directory at {candidate}")])
        return [_load_file(config, at, candidate)]
    try:
        return [importlib.import_module(entry)]
    except ImportError as exc:
        raise ConfigError(
            [config.problem(at, f"cannot import plugin module '{entry}': {exc}")]
        ) from None


def _load_file(config: Config, at: tuple[Any, ...], path: Path) -> Any:
    name = f"gateway_hooks.{path.stem}_{abs(hash(str(path))):x}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(
            [
                config.problem(
                    at, f"plugin {path.name} failed to load: {exc.__class__.__name__}: {exc}"
                )
            ]
        ) from None
    sys.modules[name] = module
    return module


async def authenticate(hook: pluggy.HookCaller, **kwargs: Any) -> Any:
    """The identity the plugins accept with: the first :class:`~gateway.exchange.Identity`
    any of them answers (a named key's, whose limits and permissions must apply whatever
    other plugin also accepts), else the first other value. A rejection by any plugin wins."""
    identity = None
    for result in hook(**kwargs):
        if inspect.isawaitable(result):
            result = await result
        if result is False:
            raise AuthenticationFailed("This request is not allowed by the gateway's auth plugins")
        if identity is None or (
            isinstance(result, Identity) and not isinstance(identity, Identity)
        ):
            identity = result
    return identity


async def notify(hook: pluggy.HookCaller, **kwargs: Any) -> None:
    """Calls an event hook and awaits whatever implementations returned awaitables."""
    for result in hook(**kwargs):
        if result is not None and inspect.isawaitable(result):  # None: most hooks are sync
            await result


def sink_kinds(pm: pluggy.PluginManager) -> dict[str, type]:
    kinds: dict[str, type] = {}
    for registered in pm.hook.gateway_register_sinks():
        for kind, cls in (registered or {}).items():
            if kind in kinds and kinds[kind] is not cls:
                raise ValueError(f"two plugins register the sink kind '{kind}'")
            kinds[kind] = cls
    return kinds


def builtin_plugins(pm: pluggy.PluginManager) -> list[Any]:
    """The running built-in plugins, kept across reloads (their open files)."""
    prefix = BUILTIN_PACKAGE + "."
    return [plugin for name, plugin in pm.list_name_plugin() if name.startswith(prefix)]
