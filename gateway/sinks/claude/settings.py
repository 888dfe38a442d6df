"""A cli or sdk sink's options from routes.yaml, checked, with their defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base import DEFAULT_MAX_TOKENS
from .client_tools import TOOL_SERVER

__all__ = ["BASH_RULE", "LIVE_MAX_TURNS", "LIVE_TOOL_RULE", "ClaudeSettings"]

#: What goes inside ``Bash(...)``: no ``)`` to close it early, no ``,`` to start another rule
#: in the comma-separated ``--allowedTools`` (``git log:*),Bash`` would allow every command).
BASH_RULE = re.compile(r"[^\s(),\x00-\x1f\x7f][^(),\x00-\x1f\x7f]{0,499}")

#: The permission rule of the client's tools in a live process.
LIVE_TOOL_RULE = f"mcp__{TOOL_SERVER}"
#: A live query spans the client's tool calls; the process is not kept past this many.
LIVE_MAX_TURNS = 1000


@dataclass(frozen=True, slots=True)
class ClaudeSettings:
    """A cli or sdk sink's options from routes.yaml, with their defaults."""

    binary: str | None = None
    profile: str = "plain"
    tools: tuple[str, ...] = ()
    working_dir: str | None = None
    allowed_dirs: tuple[str, ...] = ()
    max_turns: int = 1
    system_prompt: str = "replace"
    max_concurrency: int = 4
    max_queue: int = 16
    queue_timeout: float = 30.0
    timeout: float = 600.0
    max_retries: int = 0
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    bare: str | bool = "auto"
    prompt_caching: bool = True
    env: Mapping[str, str] = field(default_factory=dict)
    disallowed_tools: tuple[str, ...] = ()
    permission_mode: str | None = None
    warm: int = 0  # processes started ahead of requests (the CLI sink only)
    warm_max_idle: float = 300.0
    warm_memory_mib: int = 1024
    #: Conversations kept in the process that answered them, at most this many (the CLI sink,
    #: plain profile); 0: every request is a run of its own. docs/cli-sink.md, "Live".
    live: int = 0
    #: Seconds a kept process waits for its conversation's next request: in its first idle
    #: minute a process used ~0.5 s of CPU, about what one live turn saves against a spare's
    #: run (0.7 s against 0.05 s; measured, docs/cli-sink.md).
    live_max_idle: float = 60.0
    live_max_age: float = 1800.0  # seconds from its start: a bound on history drift
    live_memory_mib: int = 2048  # their memory together (PSS, from /proc)
    #: Memory the machine keeps available (MemAvailable), whatever the sinks and gateways on
    #: it keep alive: below it no process is kept.
    live_reserve_mib: int = 1024
    #: agent: the shell commands it may run, as Claude Code permission rules without the
    #: ``Bash(...)`` around them (``git log:*``); empty, no Bash at all.
    bash: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ClaudeSettings:
        values = {k: v for k, v in options.items() if k not in ("kind", "description", "sdk")}
        for key in ("tools", "allowed_dirs", "disallowed_tools", "bash"):
            if key in values:
                values[key] = tuple(values[key])
        profile = values.get("profile", "plain")
        if profile == "plain" and (values.get("tools") or values.get("bash")):
            raise ValueError("tools: the plain profile runs no tools; use profile: agent")
        if "Bash" in values.get("tools", ()):
            raise ValueError(
                "tools: Bash there would run any command; list the commands it may run under "
                "bash: instead (e.g. 'git log:*')"
            )
        for rule in values.get("bash", ()):
            if not BASH_RULE.fullmatch(rule):
                raise ValueError(
                    f"bash: '{rule}' is not a command rule (a command, optionally ending in "
                    "':*'; no parentheses, commas or control characters)"
                )
        if profile == "agent" and values.get("live"):
            raise ValueError(
                "live: the agent profile runs Claude Code's own tools, whose calls the client "
                "never sees, so its next request never continues the conversation a process "
                "holds; live conversations need profile: plain"
            )
        if profile == "agent":
            values.setdefault("max_turns", 10)
        elif values.get("max_turns", 1) != 1:
            raise ValueError("max_turns: the plain profile answers in exactly one turn")
        return cls(**values)

    @property
    def agent(self) -> bool:
        return self.profile == "agent"

    @property
    def turns_per_run(self) -> int:
        """``--max-turns``: with live conversations, a run lasts as long as its conversation
        (each client tool call held open is one more turn of the same query)."""
        return LIVE_MAX_TURNS if self.live else self.max_turns

    @property
    def offered_tools(self) -> tuple[str, ...]:
        """The built-in tools the model is offered (``--tools``)."""
        return self.tools + (("Bash",) if self.bash else ())

    @property
    def permitted_tools(self) -> tuple[str, ...]:
        """The permission rules that run without asking (``--allowedTools``); with
        ``--permission-prompts none`` every other call of an offered tool is denied."""
        if self.live:
            # The client's tools, declared as an in-process MCP server: their calls come to the
            # sink, which holds them open until the client's next request brings the result.
            return (LIVE_TOOL_RULE,)
        if not self.agent:
            return ()
        return self.tools + tuple(f"Bash({rule})" for rule in self.bash)

    def use_bare(self, environ: Mapping[str, str]) -> bool:
        """--bare skips CLAUDE.md, hooks and the environment turn, but reads only API keys:
        ``auto`` uses it when the child will have one (the sink's ``env:`` over ``environ``)."""
        if self.bare == "auto":
            return bool(self.env.get("ANTHROPIC_API_KEY", environ.get("ANTHROPIC_API_KEY")))
        return bool(self.bare)
