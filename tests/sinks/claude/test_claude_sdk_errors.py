"""How the SDK sink reports what goes wrong: the SDK's own errors as 502s, anything else as a
gateway fault whose traceback reaches the log."""

from __future__ import annotations

import asyncio
import logging

import claude_agent_sdk
import pytest
from paths import TESTS

from gateway import ir
from gateway.config import SinkConfig
from gateway.errors import SinkUnavailable, UpstreamError
from gateway.sinks.claude.sdk import ClaudeSdkSink

FAKE_CLAUDE = TESTS / "fake_claude.py"


def sdk_sink(**options: object) -> ClaudeSdkSink:
    return ClaudeSdkSink(SinkConfig(name="sdk", kind="sdk", options=options, path=("sinks", "sdk")))


def test_the_sdks_own_errors_are_upstream_errors():
    error = sdk_sink()._sdk_error(claude_agent_sdk.ProcessError("exited", exit_code=3))
    assert type(error) is UpstreamError and error.status == 502
    assert "ProcessError" in str(error)
    missing = sdk_sink()._sdk_error(claude_agent_sdk.CLINotFoundError("no claude"))
    assert type(missing) is SinkUnavailable


def test_a_fault_of_the_gateway_is_logged_with_its_traceback(caplog):
    try:
        {}["missing"]
    except KeyError as exc:
        with caplog.at_level(logging.ERROR, logger="gateway"):
            error = sdk_sink()._sdk_error(exc)
    assert error.status == 500 and "see the gateway's log" in str(error)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_a_crash_is_reported_with_the_end_of_claudes_stderr():
    # The SDK pipes the child's stderr only to a callback; without one it went to the
    # gateway's own stderr and the client read "Check stderr output for details".
    async def run() -> None:
        sink = sdk_sink(binary=str(FAKE_CLAUDE), env={"FAKE_CLAUDE_MODE": "crash"})
        await sink.start()
        request = ir.Request(model="opus", messages=[ir.Message("user", [ir.Text("x")])])
        try:
            with pytest.raises(UpstreamError) as caught:
                async for _ in sink.stream(request):
                    pass
        finally:
            await sink.close()
        assert "fatal: the fake claude crashed on purpose" in str(caught.value)

    asyncio.run(run())
