"""``kind: sdk``: Claude Code through the official Python SDK (claude-agent-sdk).

The same run plan as the CLI sink (transcript, replayed turns, environment, flags), handed to
the SDK as options and a prompt stream. Each conversation runs in a task of its own and hands
its messages over a queue: the SDKs' anyio task groups must be entered and left in one task, so
abandoning their iterator from the request's task (a client that hung up) would print anyio
errors and could leave the CLI running. Stopping interrupts the turn, which the CLI ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from ... import ir
from ...errors import GatewayError, SinkUnavailable, UpstreamError
from .run_dirs import RunDirectory
from .run_plan import RunPlan
from .sdk_adapters import (
    SDK_PACKAGES,
    SdkAdapter,
    StderrTail,
    choose_sdk,
    load_adapter,
    message_to_dict,
)
from .shared import ClaudeSink
from .spare import ClaudeSpare
from .stream_json import StreamJsonTranslator

__all__ = ["ClaudeSdkSink"]

log = logging.getLogger("gateway.sinks")

_END = object()
_STOP_GRACE = 10.0


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class SdkConversation:
    """One SDK conversation, pumped in its own task; messages come out of :meth:`messages`."""

    def __init__(self, adapter: SdkAdapter, plan: RunPlan, cli_path: str) -> None:
        self._adapter, self._plan, self._cli_path = adapter, plan, cli_path
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._acknowledgements = asyncio.Semaphore(0)
        self._interrupt: Any = None
        self._answered = False
        self.stderr = StderrTail()
        self._task = asyncio.create_task(self._pump(), name="sdk-conversation")

    async def _turns(self) -> AsyncIterator[dict[str, Any]]:
        for line in self._adapter.replayed(self._plan):
            yield dict(line.message)  # the SDK adds fields to what it is given
            if line.acknowledged:
                await self._acknowledgements.acquire()

    async def _pump(self) -> None:
        # The answer is the result after the ones that acknowledge replayed turns.
        results_left = self._plan.acknowledgements + 1
        try:
            opened = self._adapter.open(self._plan, self._cli_path, self._turns(), self.stderr)
            async with opened as talk:
                self._interrupt = talk.interrupt
                async for message in talk.messages:
                    line = message_to_dict(message)
                    self._queue.put_nowait(line)
                    if line["type"] == "result":
                        results_left -= 1
                        if results_left == 0:
                            self._answered = True
                            break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the reader, who turns it into a client error
            self._queue.put_nowait(_Failed(exc))
        finally:
            self._queue.put_nowait(_END)

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        while (item := await self._queue.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def acknowledge(self) -> None:
        self._acknowledgements.release()

    async def stop(self) -> None:
        """Ends the conversation: interrupted if still running, then closed in its own task."""
        if self._task.done():
            return
        if self._answered:
            pass  # the turn is over: the pump is only closing the SDK client
        elif self._interrupt is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._interrupt(), 2)
        else:
            self._task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), _STOP_GRACE)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        except asyncio.CancelledError:
            pass


class ClaudeSdkSink(ClaudeSink):
    kind = "sdk"
    options_schema = "sinks/sdk.schema.json"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.package, self.package_version = choose_sdk(config.options.get("sdk", "auto"))
        self._adapter: SdkAdapter | None = None
        self._adapter_lock = asyncio.Lock()
        self._conversations: set[SdkConversation] = set()

    def status(self) -> dict[str, Any]:
        return super().status() | {
            "sdk": {"package": self.package, "version": self.package_version}
        }

    async def _stop_runs(self) -> None:
        await asyncio.gather(*(c.stop() for c in list(self._conversations)))

    def describe(self, request: ir.Request) -> dict[str, Any]:
        described = super().describe(request)
        plan = described.pop("plan")
        described["sdk"] = self.package
        described["options"] = {
            "model": plan.model, "max_turns": plan.max_turns, "tools": list(plan.tools),
            "allowed_tools": list(plan.allowed_tools), "resume": plan.resume, "cwd": plan.cwd,
            "system_prompt_file": plan.system_prompt_file, "extra_args": plan.flags,
        }  # fmt: skip
        return described

    async def _run(
        self, plan: RunPlan, run: RunDirectory, spare: ClaudeSpare | None, request: ir.Request
    ) -> AsyncIterator[ir.Event]:
        # No spares: the SDK sends `initialize` as it connects, and the CLI reads the system
        # prompt and the transcript then, so a client cannot be connected before its request.
        conversation = SdkConversation(await self._sdk(), plan, self.binary.path)  # type: ignore[arg-type]
        self._conversations.add(conversation)
        run.stop_first(conversation.stop)

        async def unfinished(translator: StreamJsonTranslator, deadline: float) -> list[ir.Event]:
            return translator.finish()

        messages = conversation.messages()
        try:
            async for event in self._answer(
                messages, conversation.acknowledge, plan.acknowledgements, unfinished
            ):
                yield event
        except GatewayError:
            raise
        except Exception as exc:
            raise self._sdk_error(exc, conversation.stderr.text()) from exc
        finally:
            await messages.aclose()
            await asyncio.shield(conversation.stop())
            self._conversations.discard(conversation)

    def _sdk_error(self, exc: Exception, stderr: str = "") -> GatewayError:
        name = type(exc).__name__
        if name == "CLINotFoundError":
            return SinkUnavailable(f"The sink '{self.name}' cannot start claude: {exc}")
        if type(exc).__module__.partition(".")[0] != SDK_PACKAGES[self.package]:
            # Not one of the SDK's own errors (a process that failed, a line it could not
            # read): a fault of the gateway or the SDK, which the log must show in full.
            log.error("sink %s: unexpected error", self.name, exc_info=exc)
            return GatewayError("Internal gateway error in the SDK sink; see the gateway's log.")
        log.warning("sink %s: %s: %s", self.name, name, exc)
        detail = f" (claude's stderr: {stderr[-1000:]})" if stderr else ""
        return UpstreamError(f"{self.package} failed: {name}: {exc}{detail}")

    async def _sdk(self) -> SdkAdapter:
        """The SDK, imported on first use (in a thread: the import takes a few hundred ms),
        so a gateway that never uses this sink does not carry it in memory."""
        async with self._adapter_lock:
            if self._adapter is None:
                self._adapter = await asyncio.to_thread(load_adapter, self.package)
        return self._adapter
