"""Registers the sink kinds that ship with the gateway."""

from __future__ import annotations

from ..hookspecs import hookimpl

__all__ = ["BuiltinSinks"]


class BuiltinSinks:
    @hookimpl
    def gateway_register_sinks(self) -> dict[str, type]:
        from ..sinks.http import HttpSink

        kinds: dict[str, type] = {"http": HttpSink}
        try:
            from ..sinks.claude_cli import ClaudeCliSink
        except ImportError:
            pass
        else:
            kinds["cli"] = ClaudeCliSink
        try:
            from ..sinks.claude_sdk import ClaudeSdkSink
        except ImportError:
            pass
        else:
            kinds["sdk"] = ClaudeSdkSink
        return kinds
