"""What the CLI and SDK sinks share: settings, the binary, the process limit, run directories."""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import Any

from ... import ir
from ...errors import InvalidRequest, SinkUnavailable, UpstreamTimeout
from ..base import Sink
from ..concurrency import ConcurrencyLimiter
from ..quota import Quota
from .binary import TESTED_VERSION, ClaudeBinary, find_claude
from .confinement import confine
from .login import RECHECK_AFTER, LoginState, check_login
from .run_dirs import RunArea, RunDirectory
from .run_plan import RunPlan, plan_run
from .settings import ClaudeSettings
from .spare import ClaudeSpare
from .stream_json import StreamJsonTranslator, run_events
from .warm_pool import WarmPool

__all__ = ["ClaudeSink"]

log = logging.getLogger("gateway.sinks")


class ClaudeSink(Sink):
    """A sink that answers through Claude Code: one run (a private directory, one process) per
    request, at most ``max_concurrency`` at once."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.settings = ClaudeSettings.from_options(config.options)
        self.limiter = ConcurrencyLimiter(
            self.settings.max_concurrency, self.settings.max_queue, self.settings.queue_timeout
        )
        self.binary = ClaudeBinary(None, "not checked yet")
        self.login = LoginState(None, error="not checked yet")
        self._login_check: asyncio.Task[None] | None = None
        self._login_wait: asyncio.Task[None] | None = None
        self._runs: RunArea | None = None

    @classmethod
    def personal_login(cls, options: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
        """Claude Code answers with the login of the user running the gateway unless the run
        gets an API key (the sink's ``env:`` over the gateway's environment)."""
        env = options.get("env") or {}
        return not (env.get("ANTHROPIC_API_KEY") or environ.get("ANTHROPIC_API_KEY"))

    async def start(self) -> None:
        self._runs = await asyncio.to_thread(_open_run_area)
        self.binary = await find_claude(self.settings.binary)
        if not self.binary.usable:
            return
        if self.binary.version != TESTED_VERSION:
            log.warning(
                "sink %s: claude %s found; the gateway is tested with %s",
                self.name, self.binary.version, TESTED_VERSION,
            )  # fmt: skip
        log.debug("sink %s: claude %s (%s)", self.name, self.binary.version, self.binary.path)
        self.login = await check_login(self.binary.path, self.settings.env)  # type: ignore[arg-type]
        if self.login.error:
            log.warning("sink %s: login state unknown: %s", self.name, self.login.error)

    async def close(self) -> None:
        for task in (self._login_check, self._login_wait):
            if task is not None:
                task.cancel()
        await self._stop_runs()
        if self._runs is not None:
            await self._runs.close()

    async def _stop_runs(self) -> None:
        """Stops every run still going (the server is stopping, or a reload retired the sink)."""

    async def _run_area(self) -> RunArea:
        if self._runs is None:  # not started: a test calling stream() directly
            self._runs = await asyncio.to_thread(_open_run_area)
        return self._runs

    def readiness_problem(self) -> str | None:
        if not self.binary.usable:
            return self.binary.error
        return self.login.problem

    def _recheck_login(self) -> None:
        """A login done (or lost) while the gateway runs shows in /status within seconds."""
        if self._login_check is None or self._login_check.done():
            self._login_check = asyncio.get_running_loop().create_task(self._check_login())

    async def _check_login(self) -> None:
        found = await check_login(self.binary.path, self.settings.env)  # type: ignore[arg-type]
        if found.checked_at < self.login.checked_at:
            return  # a check started later has answered already: this one is stale
        # Compared with the state now, not as this check began: another check may have seen
        # the change meanwhile, and processes started ahead must be renewed once, not twice.
        was, self.login = self.login.problem, found
        if self.login.problem != was:
            log.warning("sink %s: %s", self.name, self.login.problem or "ready: claude has a login")
            self._login_changed()

    async def _await_login(self) -> None:
        """Rechecks a missing login until it appears (``gateway claude auth login`` run while the
        gateway serves), so that processes started ahead follow it (:meth:`_follow_login`).
        One ``claude auth status`` per RECHECK_AFTER (30 s, ~0.3 s of CPU each), only in a sink
        that keeps processes started ahead, only while there is no login."""
        while self.login.logged_in is False:
            await asyncio.sleep(RECHECK_AFTER)
            await self._check_login()

    def _follow_login(self, pool: WarmPool) -> None:
        """Processes are started ahead only while claude has a login (or its state is unknown):
        without one they would wait, ~170 MiB each, for requests they cannot answer. A changed
        login replaces those started under the previous one."""
        if self.login.logged_in is False:
            pool.pause("claude has no login")
            if self._login_wait is None or self._login_wait.done():
                self._login_wait = asyncio.get_running_loop().create_task(self._await_login())
        else:
            pool.renew("the login changed")
            pool.open()

    def _login_changed(self) -> None:
        """Processes started under the previous login must not serve."""

    def status(self) -> dict[str, Any]:
        if self.binary.usable and time.monotonic() - self.login.checked_at > RECHECK_AFTER:
            self._recheck_login()
        return super().status() | {
            "login": self.login.as_status(),
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
            live = self._live_turn(request)
            if live is not None:  # the next turn of a conversation a process holds
                async with aclosing(live) as events:
                    async for event in events:
                        yield event
                return
            runs = await self._run_area()
            spare = self._take_spare(request)
            if spare is None:
                run = runs.new_run()
            else:  # a process started ahead, in a run directory of its own
                run = RunDirectory(spare.workdir, runs)
                run.stop_first(spare.discard)
            try:
                session_id = spare.session_id if spare else None
                plan = plan_run(
                    request, self.settings, workdir=run.path, cwd=cwd, session_id=session_id
                )
                for path, content in plan.files.items():
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                    Path(path).write_text(content, encoding="utf-8")
                os.makedirs(plan.env["CLAUDE_CODE_TMPDIR"], exist_ok=True)
                # Closed here, not left to the garbage collector: its process must be gone
                # before the directory is removed, or the process writes it again.
                async with aclosing(self._run(plan, run, spare, request)) as events:
                    async for event in events:
                        yield event
            finally:
                await run.remove()

    def describe(self, request: ir.Request) -> dict[str, Any]:
        """The run's plan; ``plan`` is turned into argv or SDK options by the subclass."""
        plan = plan_run(request, self.settings, workdir="<run dir>", cwd=self._working_dir(request))
        return super().describe(request) | {
            "binary": self.binary.path or "claude",
            "plan": plan,
            "env": plan.env,
            "stdin": [line.message for line in plan.stdin],
            "files": {path: content[:2000] for path, content in plan.files.items()},
        }

    async def _answer(
        self,
        messages: AsyncIterator[dict[str, Any]],
        acknowledge: Callable[[], None],
        acknowledgements: int,
        unfinished: Callable[[StreamJsonTranslator, float], Awaitable[list[ir.Event]]],
    ) -> AsyncIterator[ir.Event]:
        """A run's stream-json messages as events, within the sink's timeout.

        The first ``acknowledgements`` result lines answer replayed turns (``acknowledge`` lets
        the next one go). ``unfinished(translator, deadline)`` gives the closing events (or
        raises) when the output ended before the answer did.
        """
        translator = StreamJsonTranslator(
            agent=self.settings.agent,
            on_rate_limit=lambda info: self.saw_quota(Quota.from_event(info)),
        )
        deadline = asyncio.get_running_loop().time() + self.settings.timeout
        try:
            async for event in run_events(
                messages, translator, acknowledgements=acknowledgements,
                acknowledge=acknowledge, deadline=deadline,
            ):  # fmt: skip
                yield event
            if not translator.done:
                for event in await unfinished(translator, deadline):
                    yield event
        except TimeoutError:
            raise UpstreamTimeout(
                f"claude did not finish within {self.settings.timeout:g} s (sink '{self.name}')"
            ) from None

    @abc.abstractmethod
    def _run(
        self, plan: RunPlan, run: RunDirectory, spare: ClaudeSpare | None, request: ir.Request
    ) -> AsyncIterator[ir.Event]:
        """Runs ``plan`` (on ``spare`` if it can) for ``request`` and relays its events; stops
        whatever it started when it ends, and names it to ``run`` (``run.stop_first``) so that
        it is gone before the directory is."""

    def _take_spare(self, request: ir.Request) -> ClaudeSpare | None:
        """A process started ahead of ``request``, whose run directory the run then uses."""
        return None

    def _live_turn(self, request: ir.Request) -> AsyncIterator[ir.Event] | None:
        """The answer of a process that holds the conversation ``request`` continues, or None
        (the request is a run of its own)."""
        return None

    def _working_dir(self, request: ir.Request | None) -> str | None:
        """The agent's directory: the route's, or one the request chose among allowed ones."""
        if not self.settings.agent:
            return None
        base = self.settings.working_dir or os.getcwd()
        chosen = request.sink_options.get("working_dir") if request is not None else None
        if chosen is None:
            return str(Path(base).resolve())
        if not isinstance(chosen, str) or not self.settings.allowed_dirs:
            raise InvalidRequest("working_dir: this route does not let requests choose a directory")
        return confine(chosen, self.settings.allowed_dirs, base)


def _open_run_area() -> RunArea:
    try:
        return RunArea.open()
    except OSError as exc:  # the shared directory belongs to someone else: a private one
        log.warning("run directories: %s; using a private directory, not swept", exc)
        return RunArea.open(tempfile.mkdtemp(prefix="claude-gateway-"))
