"""The bounds of live conversations, each on a gateway of its own with the real `claude`
against the mock upstream (the rest is in test_live.py)."""

from __future__ import annotations

import os
import stat
import time

from processes import claude_children, wait_for_no_claude
from test_live import ask, client, echo, live_status, serve_live
from waiting import wait_until

from gateway.sinks.claude.binary import locate


def test_the_least_recently_used_goes_first_and_an_idle_one_is_ended(upstream, mock, tmp_path):
    served = serve_live(tmp_path, upstream.base_url, live=1)
    try:
        claude = client(served)
        ask(claude, [{"role": "user", "content": "first conversation"}])
        [first] = live_status(served)["processes"]
        ask(claude, [{"role": "user", "content": "second conversation"}])
        wait_until(lambda: first["pid"] not in claude_children(), "the older process to end")
        [second] = live_status(served)["processes"]
        live = served.app.ctx.runtimes.current.sinks["claude"].live

        async def idle_for_a_while():  # as if live_max_idle had passed since its answer
            for process in live.processes():
                process.last_used -= live.max_idle
            live._changed.set()

        served.call(idle_for_a_while())
        wait_until(lambda: second["pid"] not in claude_children(), "the idle process to end")
        ended = live_status(served)["ended"]
        assert (ended["evicted"], ended["idle"]) == (1, 1)
    finally:
        served.stop()
    assert wait_for_no_claude() == []


def test_memory_over_the_budget_ends_processes(upstream, mock, tmp_path):
    served = serve_live(tmp_path, upstream.base_url, extra="\n    live_memory_mib: 1")
    try:
        ask(client(served), [{"role": "user", "content": "hello"}])
        wait_until(lambda: live_status(served)["ended"].get("memory") == 1, "the memory check")
    finally:
        served.stop()
    assert wait_for_no_claude() == []


def test_a_changed_binary_or_login_ends_the_live_processes(upstream, mock, tmp_path):
    wrapper = tmp_path / "claude"
    wrapper.write_text(f'#!/bin/sh\nexec "{locate(None)}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    served = serve_live(tmp_path, upstream.base_url, binary=str(wrapper))
    try:
        claude = client(served)
        first = [{"role": "user", "content": "hello"}]
        answer = ask(claude, first)
        [kept] = live_status(served)["processes"]
        later = time.time() + 5
        os.utime(wrapper, (later, later))
        ask(claude, [*first, echo(answer), {"role": "user", "content": "again"}])
        wait_until(
            lambda: kept["pid"] not in claude_children(), "the process of the old binary to end"
        )
        status = live_status(served)
        assert status["ended"]["binary"] == 1 and status["misses"]["new"] == 2
        [kept] = status["processes"]
        sink = served.app.ctx.runtimes.current.sinks["claude"]

        async def login_changed():
            sink._login_changed()  # what the login check does when it sees another login

        served.call(login_changed())
        wait_until(
            lambda: kept["pid"] not in claude_children(), "the process of the old login to end"
        )
        assert live_status(served)["ended"]["login"] == 1
    finally:
        served.stop()
    assert wait_for_no_claude() == []


def test_a_reload_that_changes_the_sink_ends_its_processes(upstream, mock, tmp_path):
    served = serve_live(tmp_path, upstream.base_url)
    try:
        ask(client(served), [{"role": "user", "content": "hello"}])
        [kept] = live_status(served)["processes"]
        routes = tmp_path / "routes.yaml"
        routes.write_text(routes.read_text().replace("live: 4", "live: 3"))
        assert served.call(served.app.ctx.reloader.reload("test")) is True
        wait_until(
            lambda: kept["pid"] not in claude_children(), "the retired sink's process to end"
        )
        assert live_status(served)["kept"] == 0
    finally:
        served.stop()
    assert wait_for_no_claude() == []
