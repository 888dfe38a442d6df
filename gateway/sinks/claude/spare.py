"""A ``claude`` process started before its request (measured with CLI 2.1.330, docs/cli-sink.md).

Two kinds, because the CLI reads the system prompt, the client's tools and the transcript when
``initialize`` arrives, and most of its start-up work (~150-250 ms of session set-up) follows it:

- **primed**: started with a model and request settings, and the ``initialize`` sent at start,
  for a system prompt and tool list seen in traffic (:class:`Primed`); the spare then answers
  in ~0.13 s, but only a request with no transcript to resume and exactly that system prompt
  and those tools (a different model or settings are applied as for the other kind).
- **awaiting**: started with ``--await-initialize`` (and ``--resume`` with a session id chosen
  at start when it is to serve a conversation); the request's system prompt and transcript are
  written into the spare's run directory and its ``initialize`` sent when it comes.

The model and the request's own environment (``CLAUDE_CODE_EXTRA_BODY``, effort, thinking)
not fixed at start are applied by an ``apply_flag_settings`` control request. What the spare
was started with must otherwise equal what a cold run of the request would get, or it is not used
(:meth:`ClaudeSpare.stdin_for` answers None) and the request runs cold.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .child_process import ChildProcess
from .client_tools import CLIENT_TOOLS_ENV
from .conversation import ReplayLine
from .run_plan import RunPlan, cli_argv, fixed_flags, run_environment
from .settings import ClaudeSettings

__all__ = ["LATE_ENV", "ClaudeSpare", "Primed"]

#: The request's environment that ``apply_flag_settings`` sets after start (each one measured to
#: reach the upstream request as it would from the environment of a cold start).
LATE_ENV = frozenset(
    {"CLAUDE_CODE_EXTRA_BODY", "CLAUDE_CODE_EFFORT_LEVEL", "CLAUDE_CODE_DISABLE_THINKING"}
)
#: Any valid name: the request's model replaces it before the first upstream call.
_PLACEHOLDER_MODEL = "sonnet"


@dataclass(frozen=True)
class Primed:
    """What a primed spare starts with: a system prompt and tools, and, once learnt from
    traffic, the model and the request settings (``LATE_ENV``) too, so that nothing is left to
    apply when its request comes. Equal when all of these are."""

    system: str = field(compare=False)
    initialize: dict[str, Any] = field(compare=False)
    model: str | None = field(compare=False)
    env: dict[str, str] = field(compare=False)
    prompt_digest: str = field(compare=False)
    digest: str = ""

    @classmethod
    def of(
        cls,
        system: str,
        initialize: dict[str, Any] | None,
        model: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Primed:
        initialize = initialize or _BARE_INITIALIZE
        env = env or {}
        prompt = _digest([system, initialize])
        return cls(system, initialize, model, env, prompt, _digest([prompt, model, env]))


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


_BARE_INITIALIZE: dict[str, Any] = {
    "type": "control_request",
    "request_id": "gateway_init",
    "request": {"subtype": "initialize", "hooks": None},
}


class ClaudeSpare:
    def __init__(
        self, child: ChildProcess, launch: RunPlan, workdir: str, primed: Primed | None
    ) -> None:
        self.child = child
        self.launch = launch
        self.workdir = workdir
        self.primed = primed

    @classmethod
    async def start(
        cls,
        binary: str,
        settings: ClaudeSettings,
        *,
        workdir: str,
        cwd: str | None,
        resumes: bool,
        primed: Primed | None,
        environ: Mapping[str, str],
    ) -> ClaudeSpare:
        env = run_environment(settings, workdir)
        # Harmless without client tools (the conformance suite runs with spares), and the
        # client's tools are only known once the spare is taken.
        env.update({k: v for k, v in CLIENT_TOOLS_ENV.items() if k not in settings.env})
        flags = fixed_flags(settings, environ)
        if "bare" in flags and "CLAUDE_CODE_ATTRIBUTION_HEADER" not in settings.env:
            env["CLAUDE_CODE_ATTRIBUTION_HEADER"] = "0"  # as plan_run sets it with --bare
        if primed is not None:
            env.update(primed.env)
        launch = RunPlan(
            model=primed.model if primed and primed.model else _PLACEHOLDER_MODEL,
            max_turns=settings.turns_per_run,
            tools=settings.offered_tools,
            allowed_tools=settings.permitted_tools,
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
        argv = cli_argv(binary, launch)
        if primed is None:
            argv.append("--await-initialize")
        else:
            with open(launch.system_prompt_file, "w", encoding="utf-8") as file:
                file.write(primed.system)
        child_env = {k: v for k, v in environ.items() if k != "CLAUDECODE"} | env
        child = await ChildProcess.spawn(argv, env=child_env, cwd=launch.cwd, stdin=None)
        if primed is not None:
            child.feed([ReplayLine(primed.initialize)], close=False)
        return cls(child, launch, workdir, primed)

    @property
    def session_id(self) -> str | None:
        return self.launch.resume

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
        initialize = _BARE_INITIALIZE
        if rest and rest[0].message.get("request", {}).get("subtype") == "initialize":
            initialize = rest.pop(0).message  # the client's tools
        settings = {"type": "control_request", "request_id": "gateway_settings",
                    "request": {"subtype": "apply_flag_settings",
                                "settings": {"model": plan.model, "env": late}}}  # fmt: skip
        if self.primed is None:
            return [ReplayLine(initialize), ReplayLine(settings), *rest]
        prompt = Primed.of(plan.files[plan.system_prompt_file], initialize).prompt_digest
        if prompt != self.primed.prompt_digest:
            return None
        if plan.model == launch.model and not late:
            return rest  # started with everything this request asks
        return [ReplayLine(settings), *rest]

    async def discard(self) -> None:
        """Ends the process and removes its run directory."""
        await self.child.stop()
        await asyncio.to_thread(shutil.rmtree, self.workdir, True)
