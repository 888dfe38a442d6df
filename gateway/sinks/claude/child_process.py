"""One child process in its own process group: fed on stdin, read as NDJSON, always reaped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from .ndjson import NDJSONDecoder

__all__ = ["ChildProcess", "StdinLine", "proc_bytes", "run_to_end"]

log = logging.getLogger("gateway.sinks")

_READ_SIZE = 256 * 1024
_STDERR_KEEP = 16 * 1024
_TERM_GRACE = 2.0


class StdinLine(Protocol):
    """A line to write to the child; an ``acknowledged`` line is answered before the next."""

    @property
    def data(self) -> bytes: ...

    @property
    def acknowledged(self) -> bool: ...


class ChildProcess:
    """Spawned with :meth:`spawn`; :meth:`stop` kills the whole group and reaps it, whatever
    state the process is in, and is safe to call more than once."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid
        self._stderr = bytearray()
        self._acknowledgements = asyncio.Semaphore(0)
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping: asyncio.Task[None] | None = None

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str,
        stdin: Sequence[StdinLine] | None,
    ) -> ChildProcess:
        """Starts ``argv`` (never through a shell), writes ``stdin`` to it line by line (pausing
        after each line that is acknowledged), then closes it. With ``stdin=None`` the child
        waits for :meth:`feed` (a process started ahead of its request)."""
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,  # its own process group, so that stop() reaches everything
            limit=_READ_SIZE,
        )
        child = cls(process)
        child._tasks = [asyncio.create_task(child._collect_stderr())]
        if stdin is not None:
            child.feed(stdin)
        return child

    def feed(self, stdin: Sequence[StdinLine], *, close: bool = True) -> None:
        """Writes ``stdin`` after what was fed before, then closes it unless ``close`` is false
        (more will follow)."""
        previous = self._tasks[-1] if len(self._tasks) > 1 else None
        self._tasks.append(asyncio.create_task(self._write(stdin, close, previous)))

    def alive(self) -> bool:
        return self.process.returncode is None

    def resident_bytes(self) -> int:
        """The child's resident memory (VmRSS), 0 where /proc cannot say."""
        return proc_bytes(f"/proc/{self.pid}/status", "VmRSS") or 0

    def acknowledge(self) -> None:
        """The child has answered an acknowledged stdin line: the next one may be written."""
        self._acknowledgements.release()

    async def _write(
        self, lines: Sequence[StdinLine], close: bool, previous: asyncio.Task[None] | None
    ) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        try:
            for line in lines:
                stdin.write(line.data)
                await stdin.drain()
                if line.acknowledged:
                    await self._acknowledgements.acquire()
            if close:
                stdin.close()
                await stdin.wait_closed()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the process ended early; its exit status and stderr tell why

    async def _collect_stderr(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        while chunk := await stream.read(_READ_SIZE):
            self._stderr += chunk
            if len(self._stderr) > 2 * _STDERR_KEEP:
                del self._stderr[:-_STDERR_KEEP]

    @property
    def stderr_tail(self) -> str:
        return bytes(self._stderr[-_STDERR_KEEP:]).decode("utf-8", "replace").strip()

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Each JSON line of stdout as it arrives; ends when stdout closes."""
        stdout = self.process.stdout
        assert stdout is not None
        decoder = NDJSONDecoder()
        while chunk := await stdout.read(_READ_SIZE):
            for message in decoder.decode(chunk):
                yield message
        for message in decoder.flush():
            yield message

    async def wait(self) -> int:
        """The exit status, once the process has ended and its stderr is read."""
        code = await self.process.wait()
        stderr, *writer = self._tasks
        for task in writer:
            task.cancel()  # it may be waiting for an acknowledgement that will never come
        await asyncio.gather(stderr, *writer, return_exceptions=True)
        return code

    async def stop(self) -> None:
        """SIGTERM to the group (the CLI removes its files on it), SIGKILL after a grace period.

        Every caller returns once the process is gone, the second one too; the work runs in a
        task of its own, so a caller that is cancelled does not leave the process running.
        Signals go to the group only while its leader is alive and unreaped, so the group id
        cannot have been reused by an unrelated process.
        """
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        if self.process.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), _TERM_GRACE)
            except TimeoutError:
                self._signal(signal.SIGKILL)
                await self.process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


async def run_to_end(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float
) -> tuple[int, bytes, bytes]:
    """Runs a short command (``claude --version``) to its end: (exit status, stdout, stderr).

    On timeout its whole process group is killed and reaped before TimeoutError is raised.
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=None if env is None else dict(env),
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException:  # a timeout, or the caller cancelled: nothing may outlive it
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        await asyncio.shield(process.wait())
        raise
    return process.returncode or 0, out, err


def proc_bytes(path: str, field: str) -> int | None:
    """A ``Field:   N kB`` line of a /proc file, in bytes; None where the file or line is
    missing (another kernel, a process that is gone)."""
    prefix = field + ":"
    try:
        with open(path, encoding="ascii") as lines:
            for line in lines:
                if line.startswith(prefix):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None
