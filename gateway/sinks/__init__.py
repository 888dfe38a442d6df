"""Sinks: the backends a request ends at. They take the IR (gateway/ir.py) and give IR events;
they never see a Sanic request or a dialect.

    base.py         the Sink base class and its optional capabilities (what a plugin's sink
                    implements: docs/sinks.md)
    quota.py        a subscription's rate-limit windows as a sink last heard them
    concurrency.py  a bound on the requests a sink serves at once, with a waiting line
    claude/         the Claude Code CLI (`kind: cli`) and the Python SDK (`kind: sdk`)
    http/           an upstream HTTP API (`kind: http`), relayed or translated
"""
