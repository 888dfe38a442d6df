"""How one IR request becomes one Claude Code run, for the CLI and the SDK sinks alike.

:func:`plan_run` is pure: nothing here spawns or writes; a sink does that with the
:class:`RunPlan` it returns (the CLI sink as argv, the SDK sink as SDK options). Nothing from the
request reaches argv except a model name that passed :data:`MODEL_NAME`; the conversation goes
into a session transcript file and stdin, the system prompt into a file, request parameters into
``CLAUDE_CODE_EXTRA_BODY`` (an environment value).

The conversation reaches the upstream as the client's own turns (measured with CLI 2.1.330,
see docs/cli-sink.md): the turns up to the last assistant turn without a tool call go into a
session transcript that the CLI resumes; the rest is replayed on stdin, earlier user turns with
``"shouldQuery": false`` (each acknowledged by a ``result`` line before the next line is
written), then the live user turn.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ... import ir
from ...errors import InvalidRequest
from ...wire.anthropic import parameters_from_ir, with_extra
from .client_tools import CLIENT_TOOLS_ENV, declare_client_tools
from .conversation import ReplayLine, lay_out, replay_lines, transcript_lines
from .effort import effort_sent
from .settings import ClaudeSettings

__all__ = [
    "MODEL_NAME",
    "ReplayLine",
    "RunPlan",
    "cli_argv",
    "fixed_flags",
    "plan_run",
    "request_environment",
    "run_environment",
]

MODEL_NAME = re.compile(r"[A-Za-z0-9._:][A-Za-z0-9._:-]{0,199}")
PROJECT_NAME = "gateway"
# Options of the Anthropic Messages API the CLI can carry to its upstream unchanged.
CARRIED_EXTRAS = frozenset(
    {"thinking", "output_config", "speed", "inference_geo", "cache_control", "context_management"}
)


@dataclass(slots=True)
class RunPlan:
    """Everything one run needs; the CLI sink turns it into argv, the SDK sink into options."""

    model: str
    max_turns: int
    tools: tuple[str, ...]  # built-in tools available to the model
    allowed_tools: tuple[str, ...]  # ...and those that run without asking
    system_prompt_file: str
    append_system_prompt: bool
    resume: str | None
    flags: dict[str, str | None]  # further CLI flags: name -> value (None: a bare switch)
    env: dict[str, str]  # set in the child's environment, over the gateway's
    cwd: str
    stdin: list[ReplayLine]
    files: dict[str, str]  # path -> content, written before the run

    @property
    def acknowledgements(self) -> int:
        return sum(line.acknowledged for line in self.stdin)


def plan_run(
    request: ir.Request,
    settings: ClaudeSettings,
    *,
    workdir: str,
    cwd: str | None = None,
    environ: Mapping[str, str] | None = None,
    session_id: str | None = None,
) -> RunPlan:
    """The run that answers ``request``; raises InvalidRequest for what Claude Code cannot carry.

    ``session_id`` names the transcript when there is one (a process started ahead of its
    request was told it already); by default a new one is made up."""
    environ = os.environ if environ is None else environ
    if not MODEL_NAME.fullmatch(request.model):
        raise InvalidRequest(
            f"model: '{request.model[:100]}' is not a valid model name for Claude Code "
            "(letters, digits, '.', '-', '_' and ':' only)",
            param="model",
        )
    if request.hosted_tools:
        raise InvalidRequest(
            f"tools: Claude Code cannot run the hosted tool {', '.join(request.hosted_tools)} "
            "for a client; use a route to the Anthropic API",
            param="tools",
        )
    extra_body = _extra_body(request, settings)
    config_dir = os.path.join(workdir, "config")
    system_file = os.path.join(workdir, "system-prompt.txt")
    files = {system_file: request.system or ""}
    flags = fixed_flags(settings, environ)
    if not request.messages or request.messages[-1].role == "assistant":
        raise InvalidRequest(
            "messages: the last turn must be the user's; Claude Code cannot continue a "
            "prefilled assistant turn (use a route whose sink is the Anthropic API for that)",
            param="messages",
        )
    recorded, replayed = lay_out(request.messages)
    resume = None
    if recorded:
        resume = session_id or str(uuid.uuid4())
        transcript = os.path.join(config_dir, "projects", PROJECT_NAME, f"{resume}.jsonl")
        files[transcript] = "".join(
            ReplayLine(line).data.decode() for line in transcript_lines(recorded, resume)
        )
    env = _environment(settings, workdir, config_dir)
    env.update(_request_environment(request, settings, extra_body, flags))
    stdin: list[ReplayLine] = []
    if request.tools:
        env.update(CLIENT_TOOLS_ENV)
        stdin.append(ReplayLine(declare_client_tools(request.tools)))
    stdin += replay_lines(replayed)
    return RunPlan(
        model=request.model,
        max_turns=settings.turns_per_run,
        tools=settings.offered_tools,
        allowed_tools=settings.permitted_tools,
        system_prompt_file=system_file,
        append_system_prompt=settings.agent and settings.system_prompt == "append",
        resume=resume,
        flags=flags,
        env=env,
        cwd=cwd or workdir,
        stdin=stdin,
        files=files,
    )


def request_environment(
    request: ir.Request, settings: ClaudeSettings, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment :func:`plan_run` gives ``request``'s run beyond the sink's own: its
    parameters (``CLAUDE_CODE_EXTRA_BODY``), effort and thinking."""
    flags = fixed_flags(settings, environ)
    return _request_environment(request, settings, _extra_body(request, settings), flags)


def _request_environment(
    request: ir.Request,
    settings: ClaudeSettings,
    extra_body: dict[str, Any],
    flags: dict[str, str | None],
) -> dict[str, str]:
    # What the operator set in the sink's env wins over the gateway's choices.
    env = {
        k: v
        for k, v in _answer_settings(request, extra_body, flags).items()
        if k not in settings.env
    }
    if extra_body:
        env["CLAUDE_CODE_EXTRA_BODY"] = _environment_value(extra_body)
    return env


def fixed_flags(
    settings: ClaudeSettings, environ: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """The CLI flags that depend on the sink alone, not on the request."""
    environ = os.environ if environ is None else environ
    flags: dict[str, str | None] = {
        "no-session-persistence": None,
        "setting-sources": "",  # no user or project settings: their hooks would run
        "strict-mcp-config": None,  # no MCP servers but the ones given here
    }
    if settings.agent:
        # Confines the file tools to the working directory (a Read of ~/.ssh is refused even
        # though Read is allowed) and drops the tools that run code unless they are named.
        flags["restricted"] = None
        flags["permission-prompts"] = "none"  # anything not allowed is denied, never asked
    if settings.disallowed_tools:
        flags["disallowedTools"] = ",".join(settings.disallowed_tools)
    if settings.permission_mode:
        flags["permission-mode"] = settings.permission_mode
    if settings.use_bare(environ):
        flags["bare"] = None
    return flags


def run_environment(settings: ClaudeSettings, workdir: str) -> dict[str, str]:
    """The child's environment as far as the sink alone decides it (a run adds its request's)."""
    return _environment(settings, workdir, os.path.join(workdir, "config"))


def _environment(settings: ClaudeSettings, workdir: str, config_dir: str) -> dict[str, str]:
    env = dict(settings.env)
    env.update(
        {
            # Without it the CLI calls hosts other than ANTHROPIC_BASE_URL.
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            # A private config dir per run: the transcript lives there and nothing is left
            # behind; credentials are still read from the user's own ~/.claude.
            "CLAUDE_CONFIG_DIR": config_dir,
            "CLAUDE_SECURESTORAGE_CONFIG_DIR": "",
            "CLAUDE_CODE_PROJECT_DIR_NAME": PROJECT_NAME,
            "CLAUDE_CODE_TMPDIR": os.path.join(workdir, "tmp"),
            "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1",
            # An oversized conversation fails clearly instead of being summarised.
            "DISABLE_AUTO_COMPACT": "1",
            # The client asked for this model: do not swap legacy ids for newer ones.
            "CLAUDE_CODE_DISABLE_LEGACY_MODEL_REMAP": "1",
            # The CLI retries 401/429/5xx for minutes by default; the client should decide.
            "CLAUDE_CODE_MAX_RETRIES": str(settings.max_retries),
        }
    )
    if settings.live:
        # A held tool call is answered by the CLI itself after MCP_TOOL_TIMEOUT ms (about a day
        # by default): ours ends the process first, with a minute to spare.
        env.setdefault("MCP_TOOL_TIMEOUT", str(int((settings.live_max_idle + 60) * 1000)))
    if not settings.prompt_caching:
        # The CLI marks the system prompt and the last block with cache_control; without this
        # the upstream receives exactly the client's blocks.
        env["DISABLE_PROMPT_CACHING"] = "1"
    return env


def _extra_body(request: ir.Request, settings: ClaudeSettings) -> dict[str, Any]:
    """Request parameters as the upstream body fields the CLI merges into its own request."""
    unknown = sorted(set(request.extra) - CARRIED_EXTRAS)
    if unknown:
        raise InvalidRequest(
            f"Claude Code (this route's sink) cannot carry these options: {', '.join(unknown)}. "
            "Remove them or use a route whose sink is an HTTP upstream.",
            param=unknown[0],
        )
    body = with_extra(parameters_from_ir(request), request.extra)
    # Set through CLAUDE_CODE_EFFORT_LEVEL: given here, the CLI drops the effort beta header.
    output_config = {k: v for k, v in body.pop("output_config", {}).items() if k != "effort"}
    if output_config:
        body["output_config"] = output_config
    # The CLI would send 128000 (more than some models take); one default for every sink.
    body.setdefault("max_tokens", settings.default_max_tokens)
    return body


# Linux refuses to start a program when one "NAME=value" of its environment is over 128 KiB.
_MAX_ENVIRONMENT_VALUE = 128 * 1024 - len("CLAUDE_CODE_EXTRA_BODY=") - 1


def _environment_value(extra_body: dict[str, Any]) -> str:
    value = json.dumps(extra_body, ensure_ascii=False)
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > _MAX_ENVIRONMENT_VALUE:
        largest = max(extra_body, key=lambda k: len(json.dumps(extra_body[k], ensure_ascii=False)))
        raise InvalidRequest(
            f"The request's parameters for Claude Code take {size:,} bytes, more than the "
            f"{_MAX_ENVIRONMENT_VALUE:,} the CLI can be given (they travel in one environment "
            f"value); the largest is Claude's '{largest}'. Shorten it, or use a route whose sink "
            "is an HTTP upstream.",
        )
    return value


def _answer_settings(
    request: ir.Request, extra_body: dict[str, Any], flags: dict[str, str | None]
) -> dict[str, str]:
    """Environment that keeps the CLI from adding to the request what the client did not ask."""
    if request.effort is not None and request.effort not in ir.EFFORTS:
        raise InvalidRequest(f"effort: must be one of {', '.join(ir.EFFORTS)}", param="effort")
    if request.effort is not None:
        _refuse_effort_not_sent(request.model, request.effort)
    env = {
        # "unset": no output_config.effort of the CLI's own (it sends "medium" by default).
        "CLAUDE_CODE_EFFORT_LEVEL": request.effort or "unset",
    }
    if "thinking" not in extra_body:
        # The API answers without thinking unless asked; the CLI would think by default (and
        # drop a forced tool choice, which the API refuses while thinking is on).
        env["CLAUDE_CODE_DISABLE_THINKING"] = "1"
    if "bare" in flags:
        # The billing-header system block; an API key bills the same without it. A login
        # (subscription) keeps it: the CLI ties its attribution to that block.
        env["CLAUDE_CODE_ATTRIBUTION_HEADER"] = "0"
    return env


def _refuse_effort_not_sent(model: str, effort: ir.Effort) -> None:
    """A 400 for an effort Claude Code would drop or lower for ``model`` (effort.py)."""
    sent = effort_sent(model, effort)
    if sent == effort:
        return
    asked = (
        f"effort: '{effort}' (output_config.effort; reasoning_effort or reasoning.effort from "
        "OpenAI clients)"
    )
    if sent is None:
        raise InvalidRequest(
            f"{asked} cannot be applied: Claude Code sends no effort for the model '{model}'. "
            "Leave it out, or use a model that takes one (Opus 4.5, Sonnet 4.6 and later).",
            param="effort",
        )
    raise InvalidRequest(
        f"{asked} cannot be applied: Claude Code sends '{sent}' instead for the model "
        f"'{model}'. Ask for '{sent}', or use a model that takes '{effort}'.",
        param="effort",
    )


def cli_argv(binary: str, plan: RunPlan) -> list[str]:
    argv = [
        binary, "-p",
        "--output-format", "stream-json", "--verbose", "--include-partial-messages",
        "--input-format", "stream-json",
        "--model", plan.model,
        "--max-turns", str(plan.max_turns),
        "--tools", ",".join(plan.tools),
        "--append-system-prompt-file" if plan.append_system_prompt else "--system-prompt-file",
        plan.system_prompt_file,
    ]  # fmt: skip
    if plan.allowed_tools:
        argv += ["--allowedTools", ",".join(plan.allowed_tools)]
    if plan.resume:
        argv += ["--resume", plan.resume]
    for flag, value in plan.flags.items():
        argv += [f"--{flag}"] if value is None else [f"--{flag}", value]
    return argv
