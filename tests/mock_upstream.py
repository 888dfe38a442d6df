"""A mock of the Anthropic Messages and OpenAI Chat APIs on 127.0.0.1, recording what it receives.

By default it answers ``MOCK_REPLY[<model>]: <last user text>`` in several deltas. A test can
script answers: ``mock.when("MARKER", Reply(...))`` applies to requests whose last user text
(or the tool results that end the conversation) contains MARKER; ``mock.next(Reply(...))`` to the next request of any kind. Run it as a program
(``python tests/mock_upstream.py --port 9000``) for benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    text: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tool_ids: list[str] | None = None  # of the tool calls; toolu_mock_<n> unless given
    thinking: str | None = None
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None
    input_tokens: int = 11
    output_tokens: int = 7
    cache_read_input_tokens: int = 0
    error: tuple[int, str, str] | None = None  # status, error type, message
    chunks: int = 3  # text deltas per answer
    delay: float = 0.0  # seconds before each streamed event
    fail_midway: bool = False  # stream an in-band error after the first delta
    drop_midway: bool = False  # close the connection after the first delta
    drop_at_start: bool = False  # close a stream's connection before its first event
    message_id: str | None = None  # random unless given
    gate: threading.Event | None = None  # the answer waits until the test sets it
    headers: dict[str, str] = field(default_factory=dict)  # more response headers (Anthropic)
    # The whole answer's bytes, sent as they are with status 200 and this content type (a
    # malformed answer: a stream cut short, a broken event, a body that is not JSON).
    raw: bytes | None = None
    raw_content_type: str = "text/event-stream"


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    raw: bytes


def five_hour_limit_reached(resets_at: int) -> dict[str, str]:
    """The unified rate-limit headers of the API's 429 for a subscription whose five-hour
    window is used up until ``resets_at`` (Unix seconds)."""
    return {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-representative-claim": "five_hour",
        "anthropic-ratelimit-unified-reset": str(resets_at),
        "anthropic-ratelimit-unified-5h-utilization": "1.0",
        "anthropic-ratelimit-unified-5h-reset": str(resets_at),
    }


def last_user_text(body: dict[str, Any], *, whole: bool = False) -> str:
    """The last text block of the last user turn that has text; all its text if ``whole``."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content or [] if b.get("type") == "text"]
        if texts:
            return "\n".join(texts) if whole else texts[-1]
    return ""


def last_tool_result_text(body: dict[str, Any]) -> str:
    """The text of the tool results in the last message, if it is a user turn that has some."""
    messages = body.get("messages") or [{}]
    last = messages[-1]
    if last.get("role") != "user" or not isinstance(last.get("content"), list):
        return ""
    texts = []
    for block in last["content"]:
        if block.get("type") != "tool_result":
            continue
        inner = block.get("content")
        if isinstance(inner, str):
            texts.append(inner)
        elif isinstance(inner, list):
            texts += [b.get("text", "") for b in inner if b.get("type") == "text"]
    return "\n".join(texts)


def _split(text: str, parts: int) -> list[str]:
    parts = max(1, min(parts, len(text)))
    size = -(-len(text) // parts)
    return [text[i : i + size] for i in range(0, len(text), size)]


class MockUpstream:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._rules: list[tuple[str, Reply]] = []
        self._queue: deque[Reply] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- scripting ---------------------------------------------------------------------------

    def when(self, marker: str, reply: Reply) -> None:
        self._rules.append((marker, reply))

    def next(self, reply: Reply) -> None:
        self._queue.append(reply)

    def reset(self) -> None:
        self.received.clear()
        self._rules.clear()
        self._queue.clear()

    def messages_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/messages")]

    def _reply_for(self, body: dict[str, Any]) -> Reply:
        # A marker in a tool result answers first: the user's text is still the earlier one.
        for text in (last_tool_result_text(body), last_user_text(body, whole=True)):
            for marker, reply in self._rules:
                if text and marker in text:
                    return reply
        text = last_user_text(body)
        if self._queue:
            return self._queue.popleft()
        return Reply(text=f"MOCK_REPLY[{body.get('model')}]: {text}")

    # --- serving -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/messages", _quiet(self._anthropic))
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_post("/v1/chat/completions", _quiet(self._openai))
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> MockUpstream:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._serve(port))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="mock-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("mock upstream did not start")
        return self

    async def _serve(self, port: int) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)  # type: ignore[union-attr]
        future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)  # type: ignore[union-attr]

    async def _record(self, request: web.Request) -> Received:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        received = Received(
            request.method, request.path, request.query_string, dict(request.headers), body, raw
        )
        self.received.append(received)
        return received

    async def _unknown(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response(
            {"type": "error", "error": {"type": "not_found_error", "message": "no such path"}},
            status=404,
        )

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        if "anthropic-version" in request.headers:
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"}
                for m in ("claude-opus-5-5", "claude-sonnet-5-5")
            ]
            return web.json_response(
                {
                    "data": data,
                    "has_more": False,
                    "first_id": data[0]["id"],
                    "last_id": data[-1]["id"],
                }
            )
        data = [
            {"id": m, "object": "model", "created": 1, "owned_by": "mock"} for m in ("gpt-mock",)
        ]
        return web.json_response({"object": "list", "data": data})

    async def _count_tokens(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        problem = malformed_request(received.body)
        if problem:
            return _anthropic_invalid(problem)
        return web.json_response({"input_tokens": len(json.dumps(received.body)) // 4})

    # --- Anthropic ---------------------------------------------------------------------------

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        received = await self._record(request)
        problem = malformed_request(received.body)
        if problem:
            return _anthropic_invalid(problem)
        body = received.body
        reply = self._reply_for(body)
        if reply.gate is not None:
            await asyncio.get_running_loop().run_in_executor(None, reply.gate.wait)
        if reply.error is not None:
            status, kind, message = reply.error
            return web.json_response(
                {"type": "error", "error": {"type": kind, "message": message}},
                status=status,
                headers=reply.headers,
            )
        if reply.raw is not None:
            return web.Response(
                body=reply.raw, headers={"content-type": reply.raw_content_type, **reply.headers}
            )
        message_id = reply.message_id or "msg_mock_" + uuid.uuid4().hex[:20]
        model = body.get("model", "")
        blocks = _anthropic_blocks(reply)
        usage = {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": reply.cache_read_input_tokens,
        }
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": reply.stop_reason,
                    "stop_sequence": reply.stop_sequence,
                    "usage": usage,
                },
                headers={"request-id": "req_mock", **reply.headers},
            )
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", "request-id": "req_mock", **reply.headers}
        )
        await response.prepare(request)
        if reply.drop_at_start:
            request.transport.close()  # type: ignore[union-attr]
            return response

        async def send(kind: str, payload: dict[str, Any]) -> None:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            payload = {"type": kind, **payload}
            await response.write(f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode())

        start_usage = {**usage, "output_tokens": 1}
        await send(
            "message_start",
            {
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                }
            },
        )
        await send("ping", {})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                await send(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                )
                for n, piece in enumerate(_split(block["text"], reply.chunks)):
                    await send(
                        "content_block_delta",
                        {"index": index, "delta": {"type": "text_delta", "text": piece}},
                    )
                    if n == 0 and reply.fail_midway:
                        await send(
                            "error",
                            {"error": {"type": "overloaded_error", "message": "Overloaded midway"}},
                        )
                        return response
                    if n == 0 and reply.drop_midway:
                        request.transport.close()  # type: ignore[union-attr]
                        return response
            elif block["type"] == "thinking":
                await send(
                    "content_block_start",
                    {
                        "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                )
                await send(
                    "content_block_delta",
                    {
                        "index": index,
                        "delta": {"type": "thinking_delta", "thinking": block["thinking"]},
                    },
                )
                await send(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "signature_delta", "signature": "sig"}},
                )
            else:
                await send(
                    "content_block_start", {"index": index, "content_block": {**block, "input": {}}}
                )
                # As the API does: a call without input streams one empty fragment.
                pieces = _split(json.dumps(block["input"]), 3) if block["input"] else [""]
                for piece in pieces:
                    await send(
                        "content_block_delta",
                        {
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
            await send("content_block_stop", {"index": index})
        await send(
            "message_delta",
            {
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
                "usage": {"output_tokens": reply.output_tokens},
            },
        )
        await send("message_stop", {})
        return response

    # --- OpenAI ------------------------------------------------------------------------------

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        received = await self._record(request)
        problem = malformed_request(received.body, openai=True)
        if problem:
            return web.json_response(
                {"error": {"message": problem, "type": "invalid_request_error", "param": None,
                           "code": None}},
                status=400,
            )  # fmt: skip
        body = received.body
        reply = self._reply_for(body)
        if reply.gate is not None:
            await asyncio.get_running_loop().run_in_executor(None, reply.gate.wait)
        if reply.error is not None:
            status, kind, message = reply.error
            return web.json_response(
                {"error": {"message": message, "type": kind, "param": None, "code": None}},
                status=status,
            )
        finish = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls"}.get(
            reply.stop_reason, "stop"
        )
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        calls = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
        base = {"id": "chatcmpl-mock", "created": int(time.time()), "model": body.get("model")}
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply.text}
            if calls:
                message["tool_calls"] = calls
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                }
            )
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)

        async def chunk(
            delta: dict[str, Any], finish_reason: str | None = None, **extra: Any
        ) -> None:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            payload = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                **extra,
            }
            await response.write(f"data: {json.dumps(payload)}\n\n".encode())

        await chunk({"role": "assistant", "content": ""})
        for piece in _split(reply.text or "", reply.chunks) if reply.text else []:
            await chunk({"content": piece})
        for i, call in enumerate(calls):
            first = {
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            await chunk({"tool_calls": [first]})
            for piece in _split(call["function"]["arguments"], 2):
                await chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
        await chunk({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            payload = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            await response.write(f"data: {json.dumps(payload)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response


def malformed_request(body: Any, *, openai: bool = False) -> str | None:
    """Why the real API would refuse ``body`` with a 400, as far as the mock reads it.

    Requests relayed untouched (passthrough) carry whatever a client sent; the mock refuses what
    it cannot read, as the API does, instead of failing with a 500.
    """
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("model"), str):
        return "model: expected a string"
    if not isinstance(body.get("stream", False), bool):
        return "stream: expected a boolean"
    if openai and not isinstance(body.get("stream_options") or {}, dict):
        return "stream_options: expected an object"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: expected a non-empty array"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return f"messages[{i}]: expected an object with a role"
        content = message.get("content")
        if content is None and openai:
            continue
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            return f"messages[{i}].content: expected a string or an array"
        for block in content:
            if not isinstance(block, dict) or not isinstance(block.get("text", ""), str):
                return f"messages[{i}].content: expected blocks with text strings"
            inner = block.get("content")
            if block.get("type") == "tool_result" and not _text_or_blocks(inner):
                return f"messages[{i}].content: tool_result content must be text or blocks"
    return None


def _text_or_blocks(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    return isinstance(value, list) and all(
        isinstance(b, dict) and isinstance(b.get("text", ""), str) for b in value
    )


def _anthropic_invalid(message: str) -> web.Response:
    return web.json_response(
        {"type": "error", "error": {"type": "invalid_request_error", "message": message}},
        status=400,
    )


def _quiet(handler: Any) -> Any:
    """A client hanging up mid-stream is part of the tests, not an error of the mock."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConnectionResetError:
            return web.Response(status=499)

    return handle


def _anthropic_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.thinking:
        blocks.append({"type": "thinking", "thinking": reply.thinking, "signature": "sig"})
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for i, (name, args) in enumerate(reply.tool_calls):
        call_id = reply.tool_ids[i] if reply.tool_ids else f"toolu_mock_{i}"
        blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": args})
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description="mock Anthropic/OpenAI upstream")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between stream events")
    parser.add_argument("--chunks", type=int, default=3)
    parser.add_argument(
        "--agent", action="store_true",
        help=f"answer a user turn that asks to '{TOOL_PLEASE}' with a tool call, as an agent's "
        "upstream does (a fresh tool_use id each time)",
    )  # fmt: skip
    args = parser.parse_args()
    mock = MockUpstream()
    if args.agent:
        mock._reply_for = _agent(mock._reply_for)  # type: ignore[method-assign]
    if args.delay or args.chunks != 3:
        original = mock._reply_for

        def paced(body: dict[str, Any]) -> Reply:
            reply = original(body)
            reply.delay, reply.chunks = args.delay, args.chunks
            return reply

        mock._reply_for = paced  # type: ignore[method-assign]
    mock.received = _Discard()  # type: ignore[assignment]
    web.run_app(mock.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


TOOL_PLEASE = "use a tool"


def _agent(reply_for: Any) -> Any:
    def reply(body: dict[str, Any]) -> Reply:
        if not last_tool_result_text(body) and TOOL_PLEASE in last_user_text(body):
            call = f"toolu_{uuid.uuid4().hex[:24]}"
            return Reply(text="Let me look that up.", tool_calls=[("lookup", {"query": "x"})],
                         tool_ids=[call], stop_reason="tool_use")  # fmt: skip
        return reply_for(body)

    return reply


class _Discard(list):  # a benchmark run must not grow without bound
    def append(self, item: Any) -> None:
        pass


if __name__ == "__main__":
    main()
