"""``kind: cli``: the user's own Claude Code CLI, one ``claude -p`` process per request, or per
conversation with ``live: N``.

Tokens are relayed as the CLI prints them (stream-json with partial messages). Each run has a
private temporary directory (its config dir, transcript and system prompt), removed afterwards;
each process runs in its own process group, which is killed and reaped when the request ends,
fails, times out, or its client goes away. With ``live: N`` a process whose answer leaves it
holding exactly the conversation the client saw is kept (live_pool.py), and a request that
continues that conversation is its next turn (live_conversation.py, live_process.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import aclosing
from typing import Any

from ... import ir
from ...errors import GatewayError, SinkUnavailable, UpstreamError
from ..base import SinkMetric
from .child_process import ChildProcess
from .client_tools import declare_client_tools
from .conversation import lay_out
from .live_conversation import (
    Continuation,
    chain_of,
    extend,
    next_turn,
    setup_digest,
    upstream_turns,
)
from .live_pool import LivePool
from .live_process import LiveProcess
from .ndjson import NDJSONError
from .run_dirs import RunDirectory
from .run_plan import MODEL_NAME, RunPlan, cli_argv, plan_run, request_environment
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
        self.live: LivePool | None = None
        self._binary_stamp: int | None = None
        self._unfit = 0  # spares taken but started for another kind of run

    async def start(self) -> None:
        await super().start()
        self._binary_stamp = _stamp(self.binary.path)
        if self.settings.live and self.binary.usable:
            settings = self.settings
            self.live = LivePool(
                self.name, size=settings.live, max_idle=settings.live_max_idle,
                max_age=settings.live_max_age, memory_budget=settings.live_memory_mib * 2**20,
                reserve=settings.live_reserve_mib * 2**20,
            )  # fmt: skip
            self.live.open()
        if self.settings.warm and self.binary.usable:
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
        if self.live is not None:
            await self.live.close()
        await asyncio.gather(*(child.stop() for child in list(self._children)))

    def status(self) -> dict[str, Any]:
        status = super().status()
        if self.pool is not None:
            status["warm"] = self.pool.status() | {"unfit": self._unfit}
        if self.live is not None:
            status["live"] = self.live.status()
        return status

    def metrics(self) -> list[SinkMetric]:
        return self.live.metrics() if self.live is not None else []

    def _take_spare(self, request: ir.Request) -> ClaudeSpare | None:
        if self.pool is None:
            return None
        self._check_binary()
        return self.pool.take(_kind(request, self.settings))  # type: ignore[return-value]

    def _check_binary(self) -> None:
        """Processes started from a binary that has changed since must not serve."""
        stamp = _stamp(self.binary.path)
        if stamp != self._binary_stamp:
            self._binary_stamp = stamp
            if self.pool is not None:
                self.pool.renew("the claude binary changed")
            if self.live is not None:
                self.live.end_all("binary")

    def _login_changed(self) -> None:
        if self.pool is not None:
            self._follow_login(self.pool)
        if self.live is not None:
            self.live.end_all("login")

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
        if self.settings.live:
            described["live"] = _live_prospect(request)
        return described

    # --- live conversations ----------------------------------------------------------------------

    def _live_turn(self, request: ir.Request) -> AsyncIterator[ir.Event] | None:
        if self.live is None:
            return None
        self._check_binary()
        setup = self._setup(request)
        if setup is None:
            return None
        turns = upstream_turns(request.messages)
        if not turns:
            return None
        chain = chain_of(setup, turns)
        turn = next_turn(turns[-1])
        process = self.live.find(chain, turn, request.session_hint)
        if process is None:
            return None
        assert isinstance(turn, Continuation)
        process.give(turn)
        return self._relay_live(process, chain, 0)

    def _setup(self, request: ir.Request) -> str | None:
        """What a live process must have been given besides the turns (live_conversation), or
        None for a request only a run of its own may answer, or refuse."""
        if request.hosted_tools or not MODEL_NAME.fullmatch(request.model):
            return None  # refused by plan_run, with the reason
        try:
            environment = request_environment(request, self.settings)
        except GatewayError:
            return None
        tools, system = request.tools, request.system or ""
        return setup_digest(request.caller, request.model, system, tools, environment)

    async def _relay_live(
        self, process: LiveProcess, chain: tuple[str, ...], acknowledgements: int
    ) -> AsyncIterator[ir.Event]:
        """The answer of ``process`` to the turn ending ``chain``, its usage and cost its own.

        Once the answer is complete (before its last event goes on: a stream's relay stops
        reading there) the process is kept, or handed to the pool to end; until then, anything
        that stops the answer (an error, a timeout, a client gone) ends it.
        """
        assert self.live is not None
        builder = ir.ResponseBuilder()
        settled = False
        messages = process.messages
        try:
            async for event in self._answer(
                messages, process.child.acknowledge, acknowledgements, _unfinished(process.child)
            ):
                if isinstance(event, ir.MessageDelta):
                    process.account(event)
                builder.add(event)
                if isinstance(event, ir.MessageStop):
                    settled = True
                    self._keep(process, chain, builder.build())
                yield event
        except NDJSONError as exc:
            raise UpstreamError(f"claude printed a line that is not JSON: {exc}") from None
        finally:
            if not settled:
                self.live.release(process, "failed")

    def _keep(self, process: LiveProcess, chain: tuple[str, ...], answer: ir.Response) -> None:
        assert self.live is not None
        why = process.unkept_because(answer)
        if why is None:
            process.chain = extend(chain, [ir.Message("assistant", answer.content)])
            why = self.live.keep(process)
        if why is not None:
            self.live.release(process, why)

    # --- one run ---------------------------------------------------------------------------------

    async def _run(
        self, plan: RunPlan, run: RunDirectory, spare: ClaudeSpare | None, request: ir.Request
    ) -> AsyncIterator[ir.Event]:
        live = self.live is not None
        stdin = spare.stdin_for(plan) if spare is not None else None
        if spare is not None and stdin is not None:
            child = spare.child
            child.feed(stdin, close=not live)
        else:
            if spare is not None:  # started for another kind of run: this one starts cold
                self._unfit += 1
                await spare.child.stop()
            child = await self._spawn(plan, close_stdin=not live)
        self._children.add(child)
        run.stop_first(child.stop)
        try:
            if live:
                async for event in self._first_live_turn(child, plan, run, request):
                    yield event
                return
            messages = child.messages()
            try:
                async for event in self._answer(
                    messages, child.acknowledge, plan.acknowledgements, _unfinished(child)
                ):
                    yield event
            except NDJSONError as exc:
                raise UpstreamError(f"claude printed a line that is not JSON: {exc}") from None
            finally:
                await messages.aclose()
                await child.stop()
        finally:
            self._children.discard(child)

    async def _first_live_turn(
        self, child: ChildProcess, plan: RunPlan, run: RunDirectory, request: ir.Request
    ) -> AsyncIterator[ir.Event]:
        """A run whose process is kept after its answer if it can be: it then owns ``run``."""
        setup = self._setup(request)
        assert setup is not None and self.live is not None  # plan_run refused the others
        process = LiveProcess(child, setup=setup, caller=request.caller, hint=request.session_hint)
        process.run = run.hand_over()
        self.live.serving(process)
        chain = chain_of(setup, upstream_turns(request.messages))
        async with aclosing(self._relay_live(process, chain, plan.acknowledgements)) as events:
            async for event in events:
                yield event

    async def _spawn(self, plan: RunPlan, *, close_stdin: bool) -> ChildProcess:
        env = {k: v for k, v in os.environ.items() if k != "CLAUDECODE"} | plan.env
        argv = cli_argv(self.binary.path, plan)  # type: ignore[arg-type]
        try:
            child = await ChildProcess.spawn(argv, env=env, cwd=plan.cwd, stdin=None)
        except OSError as exc:
            raise SinkUnavailable(f"The sink '{self.name}' could not start claude: {exc}") from exc
        child.feed(plan.stdin, close=close_stdin)
        return child


def _live_prospect(request: ir.Request) -> dict[str, Any]:
    """Whether a live process could answer ``request`` (``gateway try``, which has none)."""
    turns = upstream_turns(request.messages)
    turn = next_turn(turns[-1]) if turns else "no turns"
    if isinstance(turn, str):
        return {"served_live": False, "why": turn}
    before = len(turns) - 1
    if not before:
        return {"served_live": False, "why": "a first turn: no process holds it yet",
                "kept_after": True}  # fmt: skip
    return {
        "served_live": "when a process holds the conversation before its last turn "
        f"({before} turns, the same caller, system prompt, tools, model and parameters)",
        "continues_with": "the results of the tool calls it holds"
        if turn.kind == "results"
        else "a user turn",
        "kept_after": True,
    }


def _unfinished(
    child: ChildProcess,
) -> Callable[[StreamJsonTranslator, float], Awaitable[list[ir.Event]]]:
    """The closing events when the output ended before the answer did (claude exited), or the
    error that says how it exited."""

    async def unfinished(translator: StreamJsonTranslator, deadline: float) -> list[ir.Event]:
        remaining = deadline - asyncio.get_running_loop().time()
        code = await asyncio.wait_for(child.wait(), remaining)
        try:
            return translator.finish()
        except UpstreamError as exc:
            stderr = child.stderr_tail[-1000:]
            detail = f"; stderr: {stderr}" if stderr else ""
            raise UpstreamError(f"{exc.message} (claude exited with code {code}{detail})") from None

    return unfinished


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
