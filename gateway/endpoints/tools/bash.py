"""``POST /api/tools/bash {command, args[], cwd?}``: one program of the route's allowlist, run
with an argument vector. Never a shell: nothing of the request is ever parsed as shell syntax.

- ``command`` names an executable of ``executables`` (absolute paths): either one of those paths
  exactly, or the file name of exactly one of them (``git`` for ``/usr/bin/git``). Anything else
  is refused with 403 before anything runs; so is a control character (400). The path that runs
  is the allowlisted one, as written: a symlink such as ``/bin/sh -> busybox`` is not matched by
  where it points.
- ``args`` are passed to the program as they are, one argument each (``;``, ``$(...)``, ``|``
  mean nothing without a shell); only NUL, which no argument can hold, is refused.
- ``cwd`` is a directory inside ``allowed_dirs`` (resolved, as for file-read); default: the
  first of them.
- The environment is ``PATH``, ``LANG``, ``HOME`` (the working directory) and the route's ``env``,
  nothing of the gateway's own (its token, API keys).
- The program runs in a process group of its own with stdin closed. The group is killed when it
  runs past ``timeout`` (504), when its stdout or stderr passes ``max_output_bytes`` (the answer
  says ``truncated``), and when the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import InvalidRequest, NotFound, PermissionDenied, UpstreamTimeout
from ...pipeline.payload_schema import PayloadSchema
from .paths import allowed_roots, confine, refuse_control_characters
from .request import checked_body

__all__ = ["INPUT_SCHEMA", "allowed_executable", "bash", "option_problems"]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_OUTPUT = 1024 * 1024
_SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"
INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["command"],
    "properties": {
        "command": {
            "type": "string",
            "minLength": 1,
            "maxLength": 4096,
            "description": "An allowed program: its absolute path or its file name.",
        },
        "args": {
            "type": "array",
            "maxItems": 4096,
            "items": {"type": "string", "maxLength": 131072},
            "description": "Its arguments, each passed as it is (no shell).",
        },
        "cwd": {
            "type": "string",
            "minLength": 1,
            "maxLength": 4096,
            "description": "Its working directory, inside the allowed directories.",
        },
    },
}
_BODY = PayloadSchema(INPUT_SCHEMA)
# Programs that run whatever command line they are given; never on an allowlist.
_SHELL = re.compile(r"/(?:(?:ba|da|z|k|c|tc|fi|mk|a|y|rb|le)?sh|busybox|toybox)$")


def option_problems(options: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """What ``gateway check`` refuses in a route's ``tool:`` options, by option path."""
    return [
        (("executables", i), f"'{path}' is a shell: it would run any command it is given; "
         "list the programs themselves")
        for i, path in enumerate(options.get("executables", ()))
        if _SHELL.search(path)
    ]  # fmt: skip


async def bash(options: Mapping[str, Any], body: Any, base_dir: Path) -> dict[str, Any]:
    body = checked_body(_BODY, body)
    executable = allowed_executable(body["command"], options["executables"])
    args = body.get("args", [])
    for index, arg in enumerate(args):
        if "\0" in arg:
            raise InvalidRequest(f"args[{index}]: holds a NUL character", param="args")
    roots = allowed_roots(options, base_dir)
    cwd = confine(body.get("cwd", "."), roots, "cwd")
    if not cwd.is_dir():
        raise InvalidRequest(f"cwd: '{body.get('cwd')}' is not a directory", param="cwd")
    env = {"PATH": _SEARCH_PATH, "LANG": "C.UTF-8", "HOME": str(cwd), **options.get("env", {})}
    timeout = options.get("timeout", DEFAULT_TIMEOUT)
    cap = options.get("max_output_bytes", DEFAULT_MAX_OUTPUT)
    started = time.perf_counter()
    code, stdout, stderr, truncated = await _run([executable, *args], str(cwd), env, timeout, cap)
    return {
        "command": executable,
        "exit_code": code,
        "stdout": stdout.decode("utf-8", "replace"),
        "stderr": stderr.decode("utf-8", "replace"),
        "truncated": truncated,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def allowed_executable(command: str, executables: list[str]) -> str:
    """The allowlisted path ``command`` names; 400 or 403 if it names none."""
    refuse_control_characters(command, "command")
    if "/" in command:
        matches = [path for path in executables if path == command]
    else:
        matches = [path for path in executables if path.rpartition("/")[2] == command]
    if len(matches) != 1:
        names = ", ".join(executables)
        why = "is not" if not matches else "names more than one of the programs"
        raise PermissionDenied(
            f"command: '{command}' {why} allowed here; allowed: {names}", param="command"
        )
    return matches[0]


async def _run(
    argv: list[str], cwd: str, env: dict[str, str], timeout: float, cap: int
) -> tuple[int, bytes, bytes, bool]:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a group of its own: everything it starts is ended with it
        )
    except FileNotFoundError:
        raise NotFound(f"command: '{argv[0]}' is not installed", param="command") from None
    except PermissionError:
        raise PermissionDenied(f"command: '{argv[0]}' is not executable", param="command") from None
    outputs = (_Capped(cap), _Capped(cap))
    ended = False
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(
                outputs[0].read(process.stdout, process), outputs[1].read(process.stderr, process)
            )
            code = await process.wait()
            ended = True
    except TimeoutError:
        raise UpstreamTimeout(
            f"{argv[0]} ran past this endpoint's timeout ({timeout:g} s) and was killed"
        ) from None
    finally:
        if not ended:  # a timeout, or a client that left (this task is cancelled)
            _kill_group(process)
        await asyncio.shield(process.wait())
    truncated = outputs[0].truncated or outputs[1].truncated
    return code, outputs[0].data(), outputs[1].data(), truncated


class _Capped:
    """One output stream, kept up to ``cap`` bytes; past it the process group is killed."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.truncated = False
        self._chunks: list[bytes] = []
        self._size = 0

    async def read(self, stream: Any, process: asyncio.subprocess.Process) -> None:
        while chunk := await stream.read(64 * 1024):
            room = self.cap - self._size
            self._chunks.append(chunk[:room])
            self._size += min(len(chunk), room)
            if len(chunk) > room:
                self.truncated = True
                _kill_group(process)
                # Read on to the end: a pipe whose reader has paused (its buffer full) never
                # sees its end, and the process's wait() waits for its pipes to close too.
                while await stream.read(64 * 1024):
                    pass
                return

    def data(self) -> bytes:
        return b"".join(self._chunks)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # Only while something of the group still runs (its output is open, or it has not ended),
    # so the group id, the leader's pid, cannot have been reused.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
