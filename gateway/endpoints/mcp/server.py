"""The MCP endpoint: the official ``mcp`` package's low-level Server and Streamable HTTP session
manager, served inside the gateway's Sanic server through an ASGI bridge.

The manager runs stateless: every HTTP request carries its own JSON-RPC exchange and nothing is
kept between requests, so tools always come from the configuration current when a request
arrives (live reloads apply at once), any worker can serve any request, and there is no session
table for a client to fill. The route, auth, Host/Origin checks and the access log are the
gateway's own (gateway/flow/dispatch.py), exactly as for every other endpoint; the manager only sees
requests that passed them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from sanic import Request

from ... import __version__
from ...errors import GatewayError, InvalidRequest
from ...exchange import Exchange, Identity
from ...flow.answers import WholeAnswer
from ...flow.complete import Asked, complete
from ...flow.deadline import Deadline
from ...server.runtime import Runtime
from ..tools import TOOL_ENDPOINTS
from .asgi_bridge import AsgiApp, Message, serve_asgi
from .progress import ProgressReporter
from .tools import RouteTool, route_tools

__all__ = ["McpService"]

log = logging.getLogger("gateway.mcp")

_STATE_KEY = "gateway"


class McpService:
    """One per app: the MCP server and the task that runs its session manager."""

    def __init__(self, max_body_bytes: int) -> None:
        self.server: Server[Any] = Server(
            "claude-gateway",
            version=__version__,
            instructions="The custom endpoints of a claude-gateway, one tool each.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self._manager = StreamableHTTPSessionManager(
            self.server, stateless=True, max_request_body_size=max_body_bytes
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # It logs every request at INFO ("Terminating session: None"); the access log has them.
        logging.getLogger("mcp").setLevel(max(logging.WARNING, logging.getLogger("mcp").level))

    async def start(self) -> None:
        """Runs the manager in a task of its own (its task group must be entered and left
        in one task); returns once it accepts requests."""
        ready = asyncio.Event()

        async def run() -> None:
            async with self._manager.run():
                ready.set()
                await self._stop.wait()

        self._task = asyncio.get_running_loop().create_task(run(), name="mcp-session-manager")
        waiter = asyncio.ensure_future(ready.wait())
        await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiter.cancel()
            self._task.result()  # raises what stopped it

    async def close(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, 10)
        except Exception:
            log.exception("the MCP session manager did not stop cleanly")
        await _stop_sse_shutdown_watcher()

    async def serve(self, request: Request, runtime: Runtime, exchange: Exchange) -> None:
        """Answers one POST of JSON-RPC. The gateway has checked the method: a stateless
        server offers no GET stream and no session to DELETE (405, as the spec allows)."""
        content_type = request.headers.get("content-type", "").partition(";")[0].strip()
        if content_type.lower() != "application/json":
            raise InvalidRequest("An MCP message must be sent as Content-Type: application/json.")
        state = {_STATE_KEY: _Call(runtime, exchange, dict(request.headers))}

        def complete(status: int) -> None:
            exchange.status, exchange.complete = status, True

        app = _completed_by_response(self._manager.handle_request, complete)
        await serve_asgi(app, request, state, complete)

    async def _list_tools(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        call = _call_of(ctx)
        return types.ListToolsResult(tools=[_tool(t) for t in call.tools().values()])

    async def _call_tool(
        self, ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        call = _call_of(ctx)
        tool = call.tools().get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        wants_progress = progress_token_from_params(ctx.params) is not None
        reporter = ProgressReporter(ctx.session.report_progress) if wants_progress else None
        async with reporter or contextlib.nullcontext():
            try:
                answer = await self._run(tool, dict(params.arguments or {}), call, reporter)
            except GatewayError as error:
                # A failure of the tool, not of the protocol: the model reads it and can
                # correct its arguments (the spec asks for isError results here).
                call.exchange.error_type = error.kind
                message = f"{error.status} {error.kind}: {error.message}"
                return types.CallToolResult(
                    content=[types.TextContent(text=message)], is_error=True
                )
            if reporter is not None:
                await reporter.done()
        text = json.dumps(answer, ensure_ascii=False)
        structured = answer if isinstance(answer, dict) else None
        return types.CallToolResult(
            content=[types.TextContent(text=text)], structured_content=structured
        )

    @staticmethod
    async def _run(
        tool: RouteTool, arguments: dict[str, Any], call: _Call, reporter: ProgressReporter | None
    ) -> Any:
        endpoint = TOOL_ENDPOINTS.get(tool.route.endpoint.name)
        if endpoint is not None:
            assert tool.route.config is not None
            base_dir = call.runtime.config.base_dir
            return await endpoint.run(tool.route.config.tool, arguments, base_dir)
        deadline = Deadline.after(call.runtime.config.limits.request_timeout)
        asked = Asked(arguments, call.headers)
        on_text = reporter.text if reporter else None
        answer = await complete(
            call.runtime, tool.route, asked, call.exchange, deadline, whole=True, on_text=on_text
        )
        assert isinstance(answer, WholeAnswer)  # asked whole, and a custom route relays nothing
        answer.on_sent()
        return answer.body


def _completed_by_response(app: AsgiApp, complete: Callable[[int], None]) -> AsgiApp:
    """``app``, reporting the exchange complete as the JSON-RPC response goes out on an SSE
    stream: a client that has its answer may hang up before the stream's end (Claude Code and
    the mcp client both do), which is no failure."""

    async def watched(scope: dict[str, Any], receive: Any, send: Any) -> None:
        status = 200

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and _holds_response(message):
                complete(status)
            await send(message)

        await app(scope, receive, watch)

    return watched


def _holds_response(message: Message) -> bool:
    for line in (message.get("body") or b"").splitlines():
        if line.startswith(b"data:"):
            try:
                data = json.loads(line[5:])
            except ValueError:
                continue
            if isinstance(data, dict) and "id" in data and ("result" in data or "error" in data):
                return True
    return False


async def _stop_sse_shutdown_watcher() -> None:
    """sse-starlette (the transport's SSE responses) starts a task per event loop that polls
    for a uvicorn shutdown every 0.5 s and never ends by itself; left behind, the loop's
    closing reports it as destroyed while pending. It starts again with the next stream."""
    watchers = [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "_shutdown_watcher"
    ]
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)


class _Call:
    """What a tool handler needs of the HTTP request that carried its message."""

    def __init__(self, runtime: Runtime, exchange: Exchange, headers: dict[str, str]) -> None:
        self.runtime, self.exchange, self.headers = runtime, exchange, headers

    def tools(self) -> dict[str, RouteTool]:
        """The routes offered as tools to this client: a named key sees only the routes its
        ``routes:`` list allows over HTTP (the /mcp route alone opens no other)."""
        identity = self.exchange.identity
        tools = route_tools(self.runtime)
        if not isinstance(identity, Identity):
            return tools
        return {name: t for name, t in tools.items() if identity.allows_route(t.route.path)}


def _call_of(ctx: Any) -> _Call:
    return ctx.request.scope["state"][_STATE_KEY]


def _tool(tool: RouteTool) -> types.Tool:
    return types.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=tool.input_schema,
        output_schema=tool.output_schema,
    )
