"""``POST /api/tools/bash {command, args[], cwd?}``: one program of the route's allowlist, run
with an argument vector. Never a shell: nothing of the request is ever parsed as shell syntax.

- ``command`` names a program of ``executables`` (policy.py): either its path exactly, or the
  file name of exactly one of them (``git`` for ``/usr/bin/git``). Anything else is refused with
  403 before anything runs; so is a control character (400). The path that runs is the
  allowlisted one, as written: a symlink such as ``/bin/sh -> busybox`` is not matched by where
  it points.
- ``args`` are passed to the program as they are, one argument each (``;``, ``$(...)``, ``|``
  mean nothing without a shell); NUL, which no argument can hold, is a 400. A program listed
  with ``args`` patterns takes only arguments that match one of them (403 otherwise).
- ``cwd`` is a directory inside ``allowed_dirs`` (resolved, as for file-read); default: the
  first of them.
- The environment is ``PATH``, ``LANG``, ``HOME`` (the working directory) and the route's ``env``,
  nothing of the gateway's own (its token, API keys).
- At most ``max_concurrency`` commands of the route run at once (per process); more are a 429.
- The program runs with stdin closed, contained (containment.py) so that everything it starts,
  ``setsid`` or not, is ended with it: when it exits, when it runs past ``timeout`` (504), when
  its stdout or stderr passes ``max_output_bytes`` (the answer says ``truncated``), and when the
  client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ...errors import InvalidRequest, NotFound, Overloaded, PermissionDenied, UpstreamTimeout
from ...pipeline.payload_schema import PayloadSchema
from . import containment
from .paths import allowed_roots, confine, refuse_control_characters
from .policy import allowed_program, option_problems, programs, refuse_arguments
from .request import checked_body

__all__ = ["INPUT_SCHEMA", "bash", "check_options"]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_OUTPUT = 1024 * 1024
DEFAULT_CONCURRENCY = 4
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
# Commands running now, by the route's tool options (an entry lives only while one runs, so its
# options, and their id, are alive).
_running: dict[int, int] = {}


async def bash(options: Mapping[str, Any], body: Any, base_dir: Path) -> dict[str, Any]:
    body = checked_body(_BODY, body)
    refuse_control_characters(body["command"], "command")
    program = allowed_program(body["command"], programs(options))
    args = body.get("args", [])
    for index, arg in enumerate(args):
        if "\0" in arg:
            raise InvalidRequest(f"args[{index}]: holds a NUL character", param="args")
    refuse_arguments(program, args)
    roots = allowed_roots(options, base_dir)
    cwd = confine(body.get("cwd", "."), roots, "cwd")
    if not cwd.is_dir():
        raise InvalidRequest(f"cwd: '{body.get('cwd')}' is not a directory", param="cwd")
    executable = program.path
    if not os.path.isfile(executable):
        raise NotFound(f"command: '{executable}' is not installed", param="command")
    if not os.access(executable, os.X_OK):
        raise PermissionDenied(f"command: '{executable}' is not executable", param="command")
    env = {"PATH": _SEARCH_PATH, "LANG": "C.UTF-8", "HOME": str(cwd), **options.get("env", {})}
    timeout = options.get("timeout", DEFAULT_TIMEOUT)
    cap = options.get("max_output_bytes", DEFAULT_MAX_OUTPUT)
    with _slot(options):
        started = time.perf_counter()
        code, stdout, stderr, truncated = await _run(
            [executable, *args], str(cwd), env, timeout, cap
        )
    return {
        "command": executable,
        "exit_code": code,
        "stdout": stdout.decode("utf-8", "replace"),
        "stderr": stderr.decode("utf-8", "replace"),
        "truncated": truncated,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def check_options(options: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """What ``gateway check`` and start-up refuse in a route's options (policy.py); the first
    call also finds how commands will be contained here, and logs it."""
    containment.chosen()
    return option_problems(options)


@contextlib.contextmanager
def _slot(options: Mapping[str, Any]) -> Iterator[None]:
    """One of the route's ``max_concurrency`` places; 429 (529 to Anthropic clients) when all
    are taken: a burst is answered at once instead of piling up processes."""
    limit = options.get("max_concurrency", DEFAULT_CONCURRENCY)
    key = id(options)
    running = _running.get(key, 0)
    if running >= limit:
        raise Overloaded(
            f"This endpoint runs at most {limit} commands at once (max_concurrency) and all "
            "are running. Retry shortly.",
            retry_after=1.0,
        )
    _running[key] = running + 1
    try:
        yield
    finally:
        left = _running[key] - 1
        if left:
            _running[key] = left
        else:
            del _running[key]


async def _run(
    argv: list[str], cwd: str, env: dict[str, str], timeout: float, cap: int
) -> tuple[int, bytes, bytes, bool]:
    contained = containment.chosen()
    try:
        process = await asyncio.create_subprocess_exec(
            *contained.command(argv),
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a group of its own, whatever the containment
        )
    except FileNotFoundError:
        raise NotFound(f"command: '{argv[0]}' is not installed", param="command") from None
    except PermissionError:
        raise PermissionDenied(f"command: '{argv[0]}' is not executable", param="command") from None
    outputs = (_Capped(cap, contained), _Capped(cap, contained))
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
            # Ended before waiting: what escaped would hold the pipes, and wait() with them.
            contained.end(process)
        await asyncio.shield(contained.settle(process))
    truncated = outputs[0].truncated or outputs[1].truncated
    return code, outputs[0].data(), outputs[1].data(), truncated


class _Capped:
    """One output stream, kept up to ``cap`` bytes; past it the command is ended."""

    def __init__(self, cap: int, contained: containment.Containment) -> None:
        self.cap = cap
        self.truncated = False
        self._contained = contained
        self._chunks: list[bytes] = []
        self._size = 0

    async def read(self, stream: Any, process: asyncio.subprocess.Process) -> None:
        while chunk := await stream.read(64 * 1024):
            room = self.cap - self._size
            self._chunks.append(chunk[:room])
            self._size += min(len(chunk), room)
            if len(chunk) > room:
                self.truncated = True
                self._contained.end(process)
                # Read on to the end: a pipe whose reader has paused (its buffer full) never
                # sees its end, and the process's wait() waits for its pipes to close too.
                while await stream.read(64 * 1024):
                    pass
                return

    def data(self) -> bytes:
        return b"".join(self._chunks)
