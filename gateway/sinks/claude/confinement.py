"""Per-request working directories, kept inside the directories a route allows."""

from __future__ import annotations

from pathlib import Path

from ...errors import InvalidRequest

__all__ = ["confine"]


def confine(requested: str, allowed: tuple[str, ...], base: str) -> str:
    """``requested`` resolved (symlinks followed) if it lies inside one of ``allowed``."""
    if "\0" in requested or len(requested) > 4096:
        raise InvalidRequest(
            "working_dir: not a usable path (a NUL character, or over 4096 characters)",
            param="working_dir",
        )
    try:
        target = Path(base, requested).resolve()
        is_dir = target.is_dir()
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop (3.11)
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InvalidRequest(f"working_dir: {reason}", param="working_dir") from None
    for root in allowed:
        root_path = Path(base, root).resolve()
        if target == root_path or root_path in target.parents:
            if not is_dir:
                raise InvalidRequest(
                    f"working_dir: '{requested}' is not a directory", param="working_dir"
                )
            return str(target)
    raise InvalidRequest(
        f"working_dir: '{requested}' is outside the directories this route allows",
        param="working_dir",
    )
