"""The starter configuration in the package: routes.yaml with its transforms/, schemas/ and hooks/.

In the source tree ``gateway/starter/`` holds symlinks to the repository's top-level files; a
built wheel holds real copies of them. A command given no routes file uses ./routes.yaml, else
this one; ``gateway init`` writes a copy of it to edit.
"""

from __future__ import annotations

import logging
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["CONFIG_NAME", "ExistingFiles", "find_config", "packaged_config", "write_starter"]

CONFIG_NAME = "routes.yaml"

log = logging.getLogger("gateway.config")


class ExistingFiles(Exception):
    """``gateway init`` would overwrite these files; nothing was written."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__(", ".join(str(path) for path in paths))
        self.paths = paths


def _starter() -> Traversable:
    return resources.files("gateway") / "starter"


def packaged_config() -> Path:
    """The starter routes.yaml, loaded where it lies so its transforms/ and hooks/ are found
    beside it (pip, pipx and uv install a wheel as plain files)."""
    return Path(str(_starter() / CONFIG_NAME))


def find_config(given: str | None) -> Path:
    """The routes file a command loads: the one given, else ./routes.yaml, else the starter."""
    if given is not None:
        return Path(given)
    if Path(CONFIG_NAME).exists():
        return Path(CONFIG_NAME)
    path = packaged_config()
    log.info(
        "No %s in %s: using the packaged starter config %s (`gateway init` writes a copy to edit)",
        CONFIG_NAME,
        Path.cwd(),
        path,
    )
    return path


def _starter_files(directory: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    """(relative path, resource) of every file of the starter, bytecode caches left out."""
    found = []
    for entry in sorted(directory.iterdir(), key=lambda entry: entry.name):
        if entry.name == "__pycache__" or entry.name.startswith("."):
            continue
        if entry.is_dir():
            found += _starter_files(entry, f"{prefix}{entry.name}/")
        elif entry.is_file() and not entry.name.endswith(".pyc"):
            found.append((prefix + entry.name, entry))
    return found


def write_starter(directory: Path) -> list[Path]:
    """Copies the starter into ``directory`` (created if needed) and returns the files written.
    Raises ExistingFiles, writing nothing, if any of them is already there."""
    files = [(directory / relative, resource) for relative, resource in _starter_files(_starter())]
    existing = [target for target, _ in files if target.exists() or target.is_symlink()]
    if existing:
        raise ExistingFiles(existing)
    for target, resource in files:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(resource.read_bytes())
    return [target for target, _ in files]
