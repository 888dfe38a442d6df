"""Rows the ledger accepted but could not write at shutdown, kept in files beside the database
and written at the next start.

A spill file is JSON lines: a header ``{"columns": [...]}``, then one row per line as a JSON
array, so rows spilled by an older version are read by column name into today's columns. Each
shutdown writes a file of its own (``<base>.<pid>-<random>.spill``: workers sharing a ledger never
overwrite each other's), first under a temporary name, then renamed, so a file is whole or
absent. At start a writer claims the files by renaming them to ``...spill.taken-<its pid>``
(only one of several workers starting together wins a file), writes their rows and deletes
them. A claimed file whose owner died before writing it is claimed again; one that cannot be read
is set aside as ``...spill.unreadable`` for a person to look at.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .record import COLUMNS

__all__ = ["claim", "release", "spill"]

log = logging.getLogger("gateway.usage")

_SUFFIX = ".spill"
_TAKEN = ".spill.taken-"


def spill(base: Path, rows: Sequence[tuple[Any, ...]]) -> Path:
    """Writes ``rows`` to a new spill file beside ``base``; raises OSError if it cannot."""
    base.parent.mkdir(parents=True, exist_ok=True)
    name = f"{base.name}.{os.getpid()}-{secrets.token_hex(4)}"
    path = base.with_name(name + _SUFFIX)
    temporary = base.with_name(name + ".partial")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(json.dumps({"columns": list(COLUMNS)}) + "\n")
            for row in rows:
                file.write(json.dumps(list(row), default=str) + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def claim(base: Path) -> tuple[list[Path], list[tuple[Any, ...]]]:
    """Claims the spill files beside ``base`` (those of a dead owner included) and returns them
    with their rows, in today's column order. A file that cannot be read is left in place."""
    if not base.parent.is_dir():
        return [], []
    taken: list[Path] = []
    rows: list[tuple[Any, ...]] = []
    for path in sorted(base.parent.glob(f"{base.name}.*")):
        if not _claimable(base, path):
            continue
        stem = path.name.split(_SUFFIX)[0]
        mine = base.with_name(f"{stem}{_TAKEN}{os.getpid()}")
        try:
            os.rename(path, mine)  # another worker may have won it
        except FileNotFoundError:
            continue
        try:
            rows += _read(mine)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = base.with_name(f"{stem}{_SUFFIX}.unreadable")
            os.replace(mine, aside)
            log.error("usage ledger: the spill file %s cannot be read (%s); set aside as %s",
                      path, exc, aside)  # fmt: skip
            continue
        taken.append(mine)
    return taken, rows


def release(paths: Sequence[Path]) -> None:
    """Deletes spill files whose rows are written."""
    for path in paths:
        path.unlink(missing_ok=True)


def _claimable(base: Path, path: Path) -> bool:
    rest = path.name[len(base.name) :]
    if rest.endswith(_SUFFIX):
        return True
    owner = rest.rpartition(_TAKEN)[2] if _TAKEN in rest else ""
    return owner.isdigit() and int(owner) != os.getpid() and not _alive(int(owner))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> list[tuple[Any, ...]]:
    with path.open(encoding="utf-8") as file:
        header = json.loads(file.readline())
        columns = header["columns"]
        rows = []
        for line in file:
            if line.strip():
                values = dict(zip(columns, json.loads(line), strict=False))
                rows.append(tuple(values.get(name) for name in COLUMNS))
    return rows
