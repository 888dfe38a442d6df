"""``kind: cli``: the user's own Claude Code CLI, one ``claude -p`` process per request.

Tokens are relayed as the CLI prints them (stream-json with partial messages). Each run has a
private temporary directory (its config dir, transcript and system prompt), removed afterwards;
each process runs in its own process group, which is killed and reaped when the request ends,
fails, times out, or its client goes away.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from .. import ir
from ..errors import InvalidRequest, SinkUnavailable, UpstreamError, UpstreamTimeout
from .base import Sink
from .child_process import ChildProcess
from .claude_binary import TESTED_VERSION, ClaudeBinary, find_claude
from .cli_invocation import CliSettings, build_invocation, confine
from .limiter import ProcessLimiter
from .ndjson import NDJSONError
from .stream_json import StreamJsonTranslator, result_error

__all__ = ["ClaudeCliSink"]

log = logging.getLogger("gateway.sinks")


class ClaudeCliSink(Sink):
    kind = "cli"
    options_schema = "sinks/cli.schema.json"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.settings = CliSettings.from_options(config.options)
        self.limiter = ProcessLimiter(
            self.settings.max_concurrency, self.settings.max_queue, self.settings.queue_timeout
        )
        self.binary = ClaudeBinary(None, "not checked yet")
        self._children: set[ChildProcess] = set()

    async def start(self) -> None:
        self.binary = await find_claude(self.settings.binary)
        if self.binary.usable:
            if self.binary.version != TESTED_VERSION:
                log.warning(
                    "sink %s: claude %s found; the gateway is tested with %s",
                    self.name, self.binary.version, TESTED_VERSION,
                )  # fmt: skip
            log.info("sink %s: claude %s (%s)", self.name, self.binary.version, self.binary.path)
        else:
            log.error("sink %s: %s", self.name, self.binary.error)

    async def close(self) -> None:
        await asyncio.gather(*(child.stop() for child in list(self._children)))

    def status(self) -> dict[str, Any]:
        return super().status() | {
            "profile": self.settings.profile,
            "binary": {
                "found": self.binary.usable,
                "path": self.binary.path,
                "source": self.binary.source,
                "version": self.binary.version,
                "tested_version": TESTED_VERSION,
                "error": self.binary.error,
            },
            "processes": self.limiter.status(),
        }

    async def stream(self, request: ir.Request) -> AsyncIterator[ir.Event]:
        if not self.binary.usable:
            raise SinkUnavailable(f"The sink '{self.name}' cannot run claude: {self.binary.error}")
        cwd = self._working_dir(request)
        async with self.limiter.slot(self.name):
            workdir = tempfile.mkdtemp(prefix="gateway-cli-")
            child: ChildProcess | None = None
            try:
                invocation = build_invocation(
                    request,
                    self.settings,
                    binary=self.binary.path,
                    workdir=workdir,
                    cwd=cwd,  # type: ignore[arg-type]
                )
                for path, content in invocation.files.items():
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                    Path(path).write_text(content, encoding="utf-8")
                os.makedirs(invocation.env["CLAUDE_CODE_TMPDIR"], exist_ok=True)
                child = await self._spawn(invocation)
                async for event in self._relay(child, invocation.acknowledgements):
                    yield event
            finally:
                await asyncio.shield(self._cleanup(child, workdir))

    def _working_dir(self, request: ir.Request) -> str | None:
        """The agent's directory: the route's, or one the request chose among allowed ones."""
        if not self.settings.agent:
            return None
        base = self.settings.working_dir or os.getcwd()
        chosen = request.sink_options.get("working_dir")
        if chosen is None:
            return str(Path(base).resolve())
        if not isinstance(chosen, str) or not self.settings.allowed_dirs:
            raise InvalidRequest("working_dir: this route does not let requests choose a directory")
        return confine(chosen, self.settings.allowed_dirs, base)

    async def _spawn(self, invocation: Any) -> ChildProcess:
        try:
            child = await ChildProcess.spawn(
                invocation.argv, env=invocation.env, cwd=invocation.cwd, stdin=invocation.stdin
            )
        except OSError as exc:
            raise SinkUnavailable(f"The sink '{self.name}' could not start claude: {exc}") from exc
        self._children.add(child)
        return child

    async def _relay(self, child: ChildProcess, acknowledgements: int) -> AsyncIterator[ir.Event]:
        translator = StreamJsonTranslator(agent=self.settings.agent)
        messages = child.messages()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.timeout
        try:
            while not translator.done:
                try:
                    message = await asyncio.wait_for(anext(messages), deadline - loop.time())
                except StopAsyncIteration:
                    break
                if acknowledgements and message.get("type") == "result":
                    # The CLI recorded a replayed turn: let the next stdin line go.
                    acknowledgements -= 1
                    if message.get("is_error"):
                        raise result_error(message)
                    child.acknowledge()
                    continue
                for event in translator.feed(message):
                    yield event
            if not translator.done:
                code = await child.wait()
                try:
                    for event in translator.finish():
                        yield event
                except UpstreamError as exc:
                    raise self._exit_error(code, child, exc) from None
        except TimeoutError:
            raise UpstreamTimeout(
                f"claude did not finish within {self.settings.timeout:g} s (sink '{self.name}')"
            ) from None
        except NDJSONError as exc:
            raise UpstreamError(f"claude printed a line that is not JSON: {exc}") from None
        finally:
            await messages.aclose()

    def _exit_error(self, code: int, child: ChildProcess, cause: UpstreamError) -> UpstreamError:
        stderr = child.stderr_tail[-1000:]
        detail = f"; stderr: {stderr}" if stderr else ""
        return UpstreamError(f"{cause.message} (claude exited with code {code}{detail})")

    async def _cleanup(self, child: ChildProcess | None, workdir: str) -> None:
        if child is not None:
            await child.stop()
            self._children.discard(child)
        shutil.rmtree(workdir, ignore_errors=True)
