"""A ``claude`` process started before its request (measured with CLI 2.1.330, docs/cli-sink.md).

Started with ``--await-initialize``, the CLI boots and then waits: it reads its system prompt
file and the session transcript only when ``initialize`` arrives, so both are written into the
spare's run directory when the request comes. The model and the request's own environment
(``CLAUDE_CODE_EXTRA_BODY``, effort, thinking) are applied by an ``apply_flag_settings``
control request; client tools ride in the ``initialize``, as in a cold run. What the spare was
started with must otherwise equal what a cold run of the request would get, or it is not used
(:meth:`ClaudeSpare.stdin_for` answers None) and the request runs cold.

``--resume`` is read at start, and a missing transcript is an error, so a spare either resumes
a session (its id chosen at start) or does not: the two kinds serve different requests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Mapping
from typing import Any

from .child_process import ChildProcess
from .claude_conversation import ReplayLine
from .claude_run import (
    CLIENT_TOOLS_ENV,
    ClaudeSettings,
    RunPlan,
    cli_argv,
    fixed_flags,
    run_environment,
)

__all__ = ["LATE_ENV", "ClaudeSpare"]

#: The request's environment that ``apply_flag_settings`` sets after start (each one measured to
#: reach the upstream request as it would from the environment of a cold start).
LATE_ENV = frozenset(
    {"CLAUDE_CODE_EXTRA_BODY", "CLAUDE_CODE_EFFORT_LEVEL", "CLAUDE_CODE_DISABLE_THINKING"}
)
#: Any valid name: the request's model replaces it before the first upstream call.
_PLACEHOLDER_MODEL = "sonnet"


class ClaudeSpare:
    def __init__(self, child: ChildProcess, launch: RunPlan, workdir: str) -> None:
        self.child = child
        self.launch = launch
        self.workdir = workdir

    @classmethod
    async def start(
        cls,
        binary: str,
        settings: ClaudeSettings,
        *,
        workdir: str,
        cwd: str | None,
        resumes: bool,
        environ: Mapping[str, str],
    ) -> ClaudeSpare:
        env = run_environment(settings, workdir)
        # Harmless without client tools (the conformance suite runs with spares), and the
        # client's tools are only known once the spare is taken.
        env.update({k: v for k, v in CLIENT_TOOLS_ENV.items() if k not in settings.env})
        flags = fixed_flags(settings, environ)
        if "bare" in flags and "CLAUDE_CODE_ATTRIBUTION_HEADER" not in settings.env:
            env["CLAUDE_CODE_ATTRIBUTION_HEADER"] = "0"  # as plan_run sets it with --bare
        launch = RunPlan(
            model=_PLACEHOLDER_MODEL,
            max_turns=settings.max_turns,
            tools=settings.tools,
            allowed_tools=settings.tools if settings.agent else (),
            system_prompt_file=os.path.join(workdir, "system-prompt.txt"),
            append_system_prompt=settings.agent and settings.system_prompt == "append",
            resume=str(uuid.uuid4()) if resumes else None,
            flags=flags,
            env=env,
            cwd=cwd or workdir,
            stdin=[],
            files={},
        )
        os.makedirs(env["CLAUDE_CODE_TMPDIR"], exist_ok=True)
        argv = [*cli_argv(binary, launch), "--await-initialize"]
        child_env = {k: v for k, v in environ.items() if k != "CLAUDECODE"} | env
        child = await ChildProcess.spawn(argv, env=child_env, cwd=launch.cwd, stdin=None)
        return cls(child, launch, workdir)

    @property
    def session_id(self) -> str | None:
        return self.launch.resume

    @property
    def resumes(self) -> bool:
        return self.launch.resume is not None

    def alive(self) -> bool:
        return self.child.alive()

    def resident_bytes(self) -> int:
        return self.child.resident_bytes()

    def stdin_for(self, plan: RunPlan) -> list[ReplayLine] | None:
        """What to write to this spare so that it runs ``plan`` exactly as a cold start would,
        or None when it cannot (it was started for another kind of run)."""
        launch = self.launch
        fixed = ("max_turns", "tools", "allowed_tools", "system_prompt_file",
                 "append_system_prompt", "resume", "flags", "cwd")  # fmt: skip
        if any(getattr(plan, name) != getattr(launch, name) for name in fixed):
            return None
        late = {k: v for k, v in plan.env.items() if launch.env.get(k) != v}
        dropped = set(launch.env) - set(plan.env) - set(CLIENT_TOOLS_ENV)
        if set(late) - LATE_ENV or dropped:
            return None
        rest = list(plan.stdin)
        initialize: dict[str, Any] = {
            "type": "control_request",
            "request_id": "gateway_init",
            "request": {"subtype": "initialize", "hooks": None},
        }
        if rest and rest[0].message.get("request", {}).get("subtype") == "initialize":
            initialize = rest.pop(0).message  # the client's tools
        settings = {"type": "control_request", "request_id": "gateway_settings",
                    "request": {"subtype": "apply_flag_settings",
                                "settings": {"model": plan.model, "env": late}}}  # fmt: skip
        return [ReplayLine(initialize), ReplayLine(settings), *rest]

    async def discard(self) -> None:
        """Ends the process and removes its run directory."""
        await self.child.stop()
        await asyncio.to_thread(shutil.rmtree, self.workdir, True)
