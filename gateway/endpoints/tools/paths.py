"""Where the tool endpoints may reach: a path is resolved (``..`` and every symlink followed) and
must then lie inside one of the route's ``allowed_dirs``, themselves resolved the same way.

A path outside is refused with 403 whether or not it exists, so the answer tells nothing about
what is outside. Control characters are refused outright: no file name the tools serve needs one,
and a newline or NUL in a path is how log and argument confusion starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import InvalidRequest, NotFound, PermissionDenied

__all__ = ["allowed_roots", "confine", "inside", "refuse_control_characters"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def allowed_roots(options: Mapping[str, Any], base_dir: Path) -> list[Path]:
    """The route's ``allowed_dirs``, relative ones taken from routes.yaml's directory."""
    return [Path(base_dir, directory).resolve() for directory in options["allowed_dirs"]]


def refuse_control_characters(value: str, param: str) -> None:
    found = _CONTROL.search(value)
    if found:
        raise InvalidRequest(
            f"{param}: holds the control character {found.group()!r}; it is refused", param=param
        )


def inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def confine(requested: str, roots: Sequence[Path], param: str) -> Path:
    """``requested`` (relative ones from the first root) resolved, if it is inside ``roots``
    and exists; 400, 403 or 404 otherwise."""
    refuse_control_characters(requested, param)
    try:
        resolved = Path(roots[0], requested).resolve()
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop
        raise InvalidRequest(f"{param}: {getattr(exc, 'strerror', None) or exc}") from None
    if not inside(resolved, roots):
        raise PermissionDenied(
            f"{param}: '{requested}' is outside the directories this endpoint allows", param=param
        )
    if not resolved.exists():
        raise NotFound(f"{param}: '{requested}' does not exist", param=param)
    return resolved
