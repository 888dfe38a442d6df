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
from collections.abc import AsyncIterator, Hashable
from typing import Any

from ... import ir
from ...errors import SinkUnavailable, UpstreamError
from .child_process import ChildProcess
from .client_tools import declare_client_tools
from .conversation import lay_out
from .ndjson import NDJSONError
from .run_dirs import RunDirectory
from .run_plan import RunPlan, cli_argv, plan_run
from .settings import ClaudeSettings
from .shared import ClaudeSink
from .spare import LATE_ENV, ClaudeSpare, Primed
from .stream_json import StreamJsonTranslator
from .warm_pool import WarmPool

__all__ = ["ClaudeCliSink"]

log = logging.getLogger("gateway.sinks")


class ClaudeCliSink(ClaudeSink):
    kind = "cli"
    options_schema = "sinks/cli.schema.json"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._children: set[ChildProcess] = set()
        self.pool: WarmPool | None = None
        self._binary_stamp: int | None = None
        self._unfit = 0  # spares taken but started for another kind of run

    async def start(self) -> None:
        await super().start()
        if self.settings.warm and self.binary.usable:
            self._binary_stamp = _stamp(self.binary.path)
            self.pool = WarmPool(
                self.name, self._start_spare, first_kind=Primed.of("", None),
                size=self.settings.warm,
                max_idle=self.settings.warm_max_idle,
                memory_budget=self.settings.warm_memory_mib * 2**20,
            )  # fmt: skip
            self._follow_login(self.pool)

    async def _stop_runs(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        await asyncio.gather(*(child.stop() for child in list(self._children)))

    def status(self) -> dict[str, Any]:
        status = super().status()
        if self.pool is not None:
            status["warm"] = self.pool.status() | {"unfit": self._unfit}
        return status

    def _take_spare(self, request: ir.Request) -> ClaudeSpare | None:
        if self.pool is None:
            return None
        stamp = _stamp(self.binary.path)
        if stamp != self._binary_stamp:
            self._binary_stamp = stamp
            self.pool.renew("the claude binary changed")
        return self.pool.take(_kind(request, self.settings))  # type: ignore[return-value]

    def _login_changed(self) -> None:
        if self.pool is not None:
            self._follow_login(self.pool)

    async def _start_spare(self, kind: Hashable) -> ClaudeSpare:
        run = (await self._run_area()).new_run()  # the spare's; removed by its discard()
        primed = kind if isinstance(kind, Primed) else None
        try:
            return await ClaudeSpare.start(
                self.binary.path, self.settings, workdir=run.path,  # type: ignore[arg-type]
                cwd=self._working_dir(None), resumes=kind == _RESUMES, primed=primed,
                environ=os.environ,
            )  # fmt: skip
        except BaseException:
            await run.remove()
            raise

    def describe(self, request: ir.Request) -> dict[str, Any]:
        described = super().describe(request)
        described["argv"] = cli_argv(self.binary.path or "claude", described.pop("plan"))
        return described

    async def _run(
        self, plan: RunPlan, run: RunDirectory, spare: ClaudeSpare | None
    ) -> AsyncIterator[ir.Event]:
        stdin = spare.stdin_for(plan) if spare is not None else None
        if spare is not None and stdin is not None:
            child = spare.child
            child.feed(stdin)
        else:
            if spare is not None:  # started for another kind of run: this one starts cold
                self._unfit += 1
                await spare.child.stop()
            child = await self._spawn(plan)
        self._children.add(child)
        run.stop_first(child.stop)

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
            await child.stop()
            self._children.discard(child)

    async def _spawn(self, plan: RunPlan) -> ChildProcess:
        env = {k: v for k, v in os.environ.items() if k != "CLAUDECODE"} | plan.env
        argv = cli_argv(self.binary.path, plan)  # type: ignore[arg-type]
        try:
            return await ChildProcess.spawn(argv, env=env, cwd=plan.cwd, stdin=plan.stdin)
        except OSError as exc:
            raise SinkUnavailable(f"The sink '{self.name}' could not start claude: {exc}") from exc


_RESUMES = "resumes a transcript"


def _kind(request: ir.Request, settings: ClaudeSettings) -> Hashable:
    """The spare a request can run on: one awaiting a transcript to resume, or one primed with
    the request's system prompt, tools, model and settings (see claude_spare)."""
    if lay_out(request.messages)[0]:
        return _RESUMES
    tools = declare_client_tools(request.tools) if request.tools else None
    plan = plan_run(request, settings, workdir=_NOWHERE)  # pure: only its environment is read
    late = {k: v for k, v in plan.env.items() if k in LATE_ENV and k not in settings.env}
    return Primed.of(request.system or "", tools, plan.model, late)


_NOWHERE = "/nonexistent/gateway-kind"


def _stamp(path: str | None) -> int | None:
    try:
        return os.stat(path).st_mtime_ns if path else None
    except OSError:
        return None
