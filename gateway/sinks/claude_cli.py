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
from collections.abc import AsyncIterator
from typing import Any

from .. import ir
from ..errors import SinkUnavailable, UpstreamError
from .child_process import ChildProcess
from .claude_base import ClaudeSink
from .claude_run import RunPlan, cli_argv
from .ndjson import NDJSONError
from .stream_json import StreamJsonTranslator

__all__ = ["ClaudeCliSink"]

log = logging.getLogger("gateway.sinks")


class ClaudeCliSink(ClaudeSink):
    kind = "cli"
    options_schema = "sinks/cli.schema.json"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._children: set[ChildProcess] = set()

    async def close(self) -> None:
        await super().close()
        await asyncio.gather(*(child.stop() for child in list(self._children)))

    def describe(self, request: ir.Request) -> dict[str, Any]:
        described = super().describe(request)
        described["argv"] = cli_argv(self.binary.path or "claude", described.pop("plan"))
        return described

    async def _run(self, plan: RunPlan) -> AsyncIterator[ir.Event]:
        env = {k: v for k, v in os.environ.items() if k != "CLAUDECODE"} | plan.env
        argv = cli_argv(self.binary.path, plan)  # type: ignore[arg-type]
        try:
            child = await ChildProcess.spawn(argv, env=env, cwd=plan.cwd, stdin=plan.stdin)
        except OSError as exc:
            raise SinkUnavailable(f"The sink '{self.name}' could not start claude: {exc}") from exc
        self._children.add(child)

        async def unfinished(translator: StreamJsonTranslator, deadline: float) -> list[ir.Event]:
            remaining = deadline - asyncio.get_running_loop().time()
            code = await asyncio.wait_for(child.wait(), remaining)
            try:
                return translator.finish()
            except UpstreamError as exc:
                stderr = child.stderr_tail[-1000:]
                detail = f"; stderr: {stderr}" if stderr else ""
                raise UpstreamError(
                    f"{exc.message} (claude exited with code {code}{detail})"
                ) from None

        messages = child.messages()
        try:
            async for event in self._answer(messages, child.acknowledge, plan, unfinished):
                yield event
        except NDJSONError as exc:
            raise UpstreamError(f"claude printed a line that is not JSON: {exc}") from None
        finally:
            await messages.aclose()
            await asyncio.shield(child.stop())
            self._children.discard(child)
