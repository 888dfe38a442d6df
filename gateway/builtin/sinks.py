"""Registers the sink kinds that ship with the gateway."""

from __future__ import annotations

from ..hookspecs import hookimpl

__all__ = ["BuiltinSinks"]


class BuiltinSinks:
    @hookimpl
    def gateway_register_sinks(self) -> dict[str, type]:
        from ..sinks.claude.cli import ClaudeCliSink
        from ..sinks.claude.sdk import ClaudeSdkSink
        from ..sinks.http.sink import HttpSink

        return {"http": HttpSink, "cli": ClaudeCliSink, "sdk": ClaudeSdkSink}
