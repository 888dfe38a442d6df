"""``POST /api/tools/file-read {path, offset?, limit?}``: a UTF-8 text file inside the route's
``allowed_dirs``, whole or a range of its lines.

The file is opened by its resolved path without following a symlink in its last component, and
what was opened is checked again through ``/proc/self/fd`` (a path swapped for a symlink between
the check and the open is caught). Only regular files are read (a FIFO or a device would block
or never end), none larger than ``max_bytes``; a NUL byte or bytes that are not UTF-8 mean a
binary file, which is refused rather than sent garbled.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import InvalidRequest, NotFound, PayloadTooLarge, PermissionDenied
from ...pipeline.payload_schema import PayloadSchema
from .paths import allowed_roots, confine, inside
from .request import checked_body

__all__ = ["INPUT_SCHEMA", "file_read"]

DEFAULT_MAX_BYTES = 1024 * 1024
INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": {
            "type": "string",
            "minLength": 1,
            "maxLength": 4096,
            "description": "A file inside the allowed directories; relative to the first one.",
        },
        "offset": {"type": "integer", "minimum": 0, "description": "Lines to skip (default 0)."},
        "limit": {"type": "integer", "minimum": 1, "description": "Lines to return (default all)."},
    },
}
_BODY = PayloadSchema(INPUT_SCHEMA)


async def file_read(options: Mapping[str, Any], body: Any, base_dir: Path) -> dict[str, Any]:
    body = checked_body(_BODY, body)
    roots = allowed_roots(options, base_dir)
    path = confine(body["path"], roots, "path")
    max_bytes = options.get("max_bytes", DEFAULT_MAX_BYTES)
    data, size = await asyncio.to_thread(_read, path, roots, max_bytes)
    if b"\0" in data:
        raise _binary(body["path"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _binary(body["path"]) from None
    lines = text.splitlines(keepends=True)
    offset = body.get("offset", 0)
    limit = body.get("limit")
    chosen = lines[offset : None if limit is None else offset + limit]
    return {
        "path": str(path),
        "content": "".join(chosen),
        "offset": offset,
        "lines": len(chosen),
        "total_lines": len(lines),
        "truncated": offset + len(chosen) < len(lines),
        "size": size,
    }


def _read(path: Path, roots: Sequence[Path], max_bytes: int) -> tuple[bytes, int]:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _open_error(exc, path) from None
    try:
        opened = _opened_path(fd)
        if opened is not None and not inside(opened, roots):
            raise PermissionDenied(
                "path: the file changed into one outside the allowed directories"
            )
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidRequest(f"path: '{path}' is not a regular file", param="path")
        if info.st_size > max_bytes:
            raise _too_large(info.st_size, max_bytes)
        chunks, total = [], 0
        while chunk := os.read(fd, min(1024 * 1024, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew since fstat
                raise _too_large(total, max_bytes)
        return b"".join(chunks), info.st_size
    finally:
        os.close(fd)


def _opened_path(fd: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:  # no /proc: the check before the open stands alone
        return None


def _open_error(exc: OSError, path: Path) -> Exception:
    if exc.errno == errno.ENOENT:
        return NotFound(f"path: '{path}' does not exist", param="path")
    if exc.errno in (errno.ELOOP, errno.EACCES, errno.EPERM):
        return PermissionDenied(f"path: '{path}' cannot be opened: {exc.strerror}", param="path")
    if exc.errno == errno.EISDIR:
        return InvalidRequest(f"path: '{path}' is a directory", param="path")
    return InvalidRequest(f"path: '{path}' cannot be opened: {exc.strerror}", param="path")


def _too_large(size: int, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"path: the file is {size} bytes, over this endpoint's max_bytes ({max_bytes})",
        param="path",
    )


def _binary(requested: str) -> InvalidRequest:
    return InvalidRequest(
        f"path: '{requested}' is a binary file (not UTF-8 text); it is not read",
        param="path",
        code="binary_file",
    )
