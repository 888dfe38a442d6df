"""Live reload: a changed routes.yaml (or a file it names) or SIGHUP swaps in the new config.

The new configuration is loaded and checked in full (schema, references, plugins, sinks,
transforms) before anything changes; an invalid one is logged with its file:line problems and
the running configuration keeps serving. Requests in flight finish on the Runtime they started
with; sinks the new configuration no longer uses are closed when the last of them is done.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..config import Config, load_config
from ..config.yaml_source import ConfigError
from .plugins import build_plugin_manager, builtin_plugins, notify
from .runtime import Runtime, build_runtime

__all__ = ["Reloader", "watched_files"]

log = logging.getLogger("gateway.reload")


def watched_files(config: Config) -> list[Path]:
    """routes.yaml and every transform, schema, hook and keys file it names."""
    files = [config.source]
    if config.keys_file is not None:
        files.append(config.keys_file)
    for spec in config.transforms.values():
        if "template" in spec:
            files.append(config.base_dir / "transforms" / spec["template"])
        if "python" in spec:
            files.append(config.base_dir / "transforms" / spec["python"].partition(":")[0])
        for key in ("input_schema", "output_schema"):
            if key in spec:
                files.append(config.base_dir / "schemas" / spec[key])
    for entry in ("hooks", *config.hooks):
        path = config.base_dir / entry
        files.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    return files


def _snapshot(files: list[Path]) -> dict[Path, float | None]:
    stamps: dict[Path, float | None] = {}
    for path in files:
        try:
            stamps[path] = path.stat().st_mtime_ns
        except OSError:
            stamps[path] = None
    return stamps


class Reloader:
    """Watches the files of the app's configuration and reloads it when one changes."""

    def __init__(self, app: Any, interval: float = 1.0) -> None:
        self.app = app
        self.interval = interval
        self.last_problems: list[str] = []
        self._lock = asyncio.Lock()
        self._stamps = _snapshot(watched_files(app.ctx.runtimes.current.config))

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if self.changed():
                    await self.reload("a configuration file changed")
            except Exception:  # the watcher must outlive any one failed reload
                log.exception("reload failed; still serving the previous configuration")

    def changed(self) -> bool:
        """Whether a watched file changed since the configuration was last loaded."""
        return _snapshot(list(self._stamps)) != self._stamps

    async def reload(self, reason: str) -> bool:
        """Loads, checks and swaps in the configuration; False if it was refused."""
        async with self._lock:
            current: Runtime = self.app.ctx.runtimes.current
            path = current.config.source
            # Taken before reading: a file completed while it was being read (an editor's
            # half-written save) still differs from these stamps and is read again.
            before = _snapshot(list(self._stamps))
            try:
                config = load_config(path)
                plugins = build_plugin_manager(config, builtins=builtin_plugins(current.plugins))
                runtime = build_runtime(config, plugins, current, current.services)
            except ConfigError as error:
                self._stamps = before
                return self._refuse(reason, [str(p) for p in error.problems])
            now = _snapshot(watched_files(config))
            self._stamps = {file: before.get(file, stamp) for file, stamp in now.items()}
            try:
                await runtime.start(previous=current)
            except Exception as exc:
                await _close_new(runtime, current)
                return self._refuse(reason, [f"{path}: a sink failed to start: {exc!r}"])
            for sink in self.app.ctx.runtimes.swap(runtime):
                await sink.close()
            services = self.app.ctx.services
            await services.configure(config)
            await notify(plugins.hook.gateway_startup, config=config, services=services)
            self.last_problems = []
            log.info("reloaded %s (%s)", path, reason)
            return True

    def _refuse(self, reason: str, problems: list[str]) -> bool:
        self.last_problems = problems
        log.error(
            "reload refused (%s); still serving the previous configuration:\n%s",
            reason, "\n".join(problems),
        )  # fmt: skip
        return False


async def _close_new(runtime: Runtime, previous: Runtime) -> None:
    kept = {id(sink) for sink in previous.sinks.values()}
    for sink in runtime.sinks.values():
        if id(sink) not in kept:
            await sink.close()
