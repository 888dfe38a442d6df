"""The two Claude Python SDKs behind one small interface.

``claude-agent-sdk`` is the maintained one (it bundles the ``claude`` binary). Its predecessor
``claude-code-sdk`` stopped at 0.0.25: its options class is ``ClaudeCodeOptions``, it has no
``tools``, ``cli_path`` or file system prompt (those become CLI flags here), and it takes the
binary's path through its transport. Both are driven the same way: the plan's replayed turns go
in as stream-json messages, and what comes out is turned back into stream-json dicts by
:func:`message_to_dict` for the translator the CLI sink uses too.

Client tools are declared in the SDK's own ``initialize`` request (a transport that adds the
plan's tool manifest to it), since neither SDK can send a manifest itself.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.util
import json
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

from .conversation import ReplayLine
from .run_plan import RunPlan

__all__ = [
    "SDK_PACKAGES",
    "Conversation",
    "SdkAdapter",
    "choose_sdk",
    "load_adapter",
    "message_to_dict",
]

SDK_PACKAGES = {"claude-agent-sdk": "claude_agent_sdk", "claude-code-sdk": "claude_code_sdk"}


@dataclass(slots=True)
class Conversation:
    messages: AsyncIterator[Any]
    #: Asks the CLI to stop the turn now (it answers with a final result); None if unsupported.
    interrupt: Callable[[], Awaitable[None]] | None = None


def message_to_dict(message: Any) -> dict[str, Any]:
    """An SDK message object as the stream-json line it was parsed from."""
    name = type(message).__name__
    if name == "StreamEvent":
        return {"type": "stream_event", "event": message.event}
    if name == "ResultMessage":
        fields = asdict(message) if is_dataclass(message) else dict(vars(message))
        return {**fields, "type": "result"}
    if name == "AssistantMessage":
        whole = {
            "id": getattr(message, "message_id", None),
            "model": getattr(message, "model", None),
            "content": [_block_to_dict(block) for block in message.content],
            "stop_reason": getattr(message, "stop_reason", None),
            "usage": getattr(message, "usage", None),
        }
        return {"type": "assistant", "message": whole}
    if name == "RateLimitEvent":  # claude-agent-sdk keeps the CLI's own fields in ``raw``
        info = getattr(message.rate_limit_info, "raw", None)
        return {"type": "rate_limit_event", "rate_limit_info": info if info is not None else {}}
    return {"type": name}


_BLOCK_TYPES = {"TextBlock": "text", "ThinkingBlock": "thinking", "ToolUseBlock": "tool_use"}


def _block_to_dict(block: Any) -> dict[str, Any]:
    """An SDK content block as the API's; kinds the translator does not relay keep their name."""
    fields = asdict(block) if is_dataclass(block) else {}
    return {**fields, "type": _BLOCK_TYPES.get(type(block).__name__, type(block).__name__)}


class StderrTail:
    """The end of what the CLI wrote to stderr, handed over by the SDK line by line."""

    def __init__(self, keep: int = 4000) -> None:
        self._lines: deque[str] = deque()
        self._size, self._keep = 0, keep

    def add(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line)
        while self._size > self._keep and len(self._lines) > 1:
            self._size -= len(self._lines.popleft())

    def text(self) -> str:
        return "\n".join(self._lines).strip()[-self._keep :]


class SdkAdapter:
    package: str

    def __init__(self, module: Any) -> None:
        self.module = module
        self.version: str = getattr(module, "__version__", "unknown")

    def open(
        self,
        plan: RunPlan,
        cli_path: str,
        turns: AsyncIterable[dict[str, Any]],
        stderr: StderrTail,
    ) -> AbstractAsyncContextManager[Conversation]:
        """The conversation; what the CLI writes to stderr goes to ``stderr`` where the SDK
        can hand it over (the predecessor SDK cannot)."""
        raise NotImplementedError

    @staticmethod
    def replayed(plan: RunPlan) -> list[ReplayLine]:
        """The plan's stdin lines the SDK writes as its prompt (it sends initialize itself)."""
        return [line for line in plan.stdin if line.message.get("type") != "control_request"]


class AgentSdkAdapter(SdkAdapter):
    package = "claude-agent-sdk"

    @asynccontextmanager
    async def open(
        self,
        plan: RunPlan,
        cli_path: str,
        turns: AsyncIterable[dict[str, Any]],
        stderr: StderrTail,
    ) -> AsyncIterator[Conversation]:
        sdk = self.module
        options = sdk.ClaudeAgentOptions(
            cli_path=cli_path,
            cwd=plan.cwd,
            model=plan.model,
            max_turns=plan.max_turns,
            tools=list(plan.tools),
            allowed_tools=list(plan.allowed_tools),
            # A string would go on argv; a file never carries request text there.
            system_prompt={"type": "preset", "preset": "claude_code"}
            if plan.append_system_prompt
            else {"type": "file", "path": plan.system_prompt_file},
            resume=plan.resume,
            include_partial_messages=True,
            env=plan.env,
            extra_args=_flags(plan),
            stderr=stderr.add,  # else the child's stderr is the gateway's own
        )
        transport = None
        manifests = _manifests(plan)
        if manifests:
            from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport

            transport = _declaring(SubprocessCLITransport, manifests)(_nothing(), options)
        client = sdk.ClaudeSDKClient(options=options, transport=transport)
        await client.connect()
        sender = asyncio.create_task(client.query(turns))
        try:
            yield Conversation(client.receive_messages(), client.interrupt)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await client.disconnect()


class CodeSdkAdapter(SdkAdapter):
    """claude-code-sdk 0.0.25, through ``query()`` with a transport that names the binary."""

    package = "claude-code-sdk"

    @asynccontextmanager
    async def open(
        self,
        plan: RunPlan,
        cli_path: str,
        turns: AsyncIterable[dict[str, Any]],
        stderr: StderrTail,
    ) -> AsyncIterator[Conversation]:
        sdk = self.module
        from claude_code_sdk._internal.transport.subprocess_cli import SubprocessCLITransport

        flags = _flags(plan)
        flags["tools"] = ",".join(plan.tools)
        flags["include-partial-messages"] = None
        if not plan.append_system_prompt:
            flags["system-prompt-file"] = plan.system_prompt_file
        options = sdk.ClaudeCodeOptions(
            cwd=plan.cwd,
            model=plan.model,
            max_turns=plan.max_turns,
            allowed_tools=list(plan.allowed_tools),
            resume=plan.resume,
            env=plan.env,
            extra_args=flags,
        )
        transport = _declaring(SubprocessCLITransport, _manifests(plan))(
            turns, options, cli_path=cli_path
        )
        # Its public query() wraps this generator without closing it, so an early exit left the
        # inner one to the garbage collector, which closed it in another task (an anyio error).
        # 0.0.25 is the final release of this package, so its internals will not move.
        from claude_code_sdk._internal.client import InternalClient

        messages = InternalClient().process_query(
            prompt=turns, options=options, transport=transport
        )
        try:
            yield Conversation(messages)
        finally:
            await messages.aclose()
            await transport.close()


def _flags(plan: RunPlan) -> dict[str, str | None]:
    flags = dict(plan.flags)
    if plan.append_system_prompt:
        flags["append-system-prompt-file"] = plan.system_prompt_file
    return flags


def _manifests(plan: RunPlan) -> dict[str, Any]:
    """The client-tool declaration carried by the plan's initialize line, if any."""
    for line in plan.stdin:
        if line.message.get("type") == "control_request":
            request = line.message["request"]
            return {key: value for key, value in request.items() if key.startswith("sdkMcp")}
    return {}


def _declaring(transport_class: type, manifests: dict[str, Any]) -> type:
    """A subclass of an SDK transport that adds ``manifests`` to the initialize request."""

    class DeclaringTransport(transport_class):  # type: ignore[misc, valid-type]
        async def write(self, data: str) -> None:
            await super().write(_with_manifests(data, manifests) if manifests else data)

    return DeclaringTransport


def _with_manifests(data: str, manifests: dict[str, Any]) -> str:
    if '"initialize"' not in data:
        return data
    message = json.loads(data)
    request = message.get("request") or {}
    if message.get("type") != "control_request" or request.get("subtype") != "initialize":
        return data
    request.update(manifests)
    return json.dumps(message) + "\n"


async def _nothing() -> AsyncIterator[dict[str, Any]]:
    return
    yield {}


_ADAPTERS: dict[str, type[SdkAdapter]] = {
    "claude-agent-sdk": AgentSdkAdapter,
    "claude-code-sdk": CodeSdkAdapter,
}


def choose_sdk(preference: str = "auto") -> tuple[str, str]:
    """(package, version) of the SDK named, or with ``auto`` claude-agent-sdk, else
    claude-code-sdk, whichever is installed; found without importing it (it weighs ~35 MiB)."""
    names = list(SDK_PACKAGES) if preference == "auto" else [preference]
    for name in names:
        if importlib.util.find_spec(SDK_PACKAGES[name]) is not None:
            return name, importlib.metadata.version(name)
    raise ValueError(f"sdk: {' or '.join(names)} is not installed; pip install claude-agent-sdk")


def load_adapter(package: str) -> SdkAdapter:
    return _ADAPTERS[package](importlib.import_module(SDK_PACKAGES[package]))
