"""Processes started ahead of requests: the pool's rules with stand-in spares, then the CLI sink's
spares with the real `claude` against the mock upstream."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import anthropic
import httpx
import pytest
from processes import claude_children, spare_pids, wait_for_no_claude
from waiting import wait_until

from gateway.sinks.claude.login import LoginState
from gateway.sinks.claude.shared import ClaudeSink
from gateway.sinks.claude.warm_pool import WarmPool

# --- the pool's rules -------------------------------------------------------------------------


class StandIn:
    def __init__(self, kind, resident=100 * 2**20):
        self.kind, self.resident, self.discarded, self.dead = kind, resident, False, False

    def alive(self):
        return not self.dead

    def resident_bytes(self):
        return self.resident

    async def discard(self):
        self.discarded = True


async def until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the awaited state never came"
        await asyncio.sleep(0.005)


def pool_of(made, resident=100 * 2**20, **options):
    async def start(kind):
        made.append(StandIn(kind, resident))
        return made[-1]

    settings = {"size": 2, "max_idle": 300.0, "memory_budget": 2**30} | options
    return WarmPool("test", start, first_kind="a", **settings)


def test_the_pool_fills_hands_out_each_spare_once_and_follows_the_kind_asked_for():
    async def scenario():
        made: list[StandIn] = []
        pool = pool_of(made)
        pool.open()
        await until(lambda: len(pool.spares()) == 2)
        first = pool.take("a")
        assert first is made[0] and first not in pool.spares()
        await until(lambda: len(pool.spares()) == 2)
        assert pool.take("b") is None  # a miss: the oldest "a" makes room for a "b"
        await until(lambda: [s.kind for s in pool.spares()] == ["a", "b"])
        assert made[1].discarded
        second = pool.take("b")
        assert second.kind == "b"
        await pool.close()
        assert all(s.discarded for s in made if s not in (first, second))
        assert not first.discarded and not second.discarded  # theirs to end
        assert pool.status()["served"] == 2 and pool.status()["missed"] == 1

    asyncio.run(scenario())


def test_dead_expired_and_renewed_spares_never_serve():
    async def scenario():
        made: list[StandIn] = []
        pool = pool_of(made, size=1, max_idle=0.2)
        pool.open()
        await until(lambda: pool.spares())
        made[0].dead = True
        assert pool.take("a") is None
        await until(lambda: made[0].discarded)
        await until(lambda: len(made) >= 2 and pool.spares())
        await until(lambda: made[1].discarded)  # replaced once idle past max_idle
        await until(lambda: pool.spares() and pool.spares()[0] is not made[1])
        renewed = pool.spares()[0]
        pool.renew("the login changed")
        await until(lambda: renewed.discarded and pool.spares())
        assert pool.spares()[0] is not renewed
        await pool.close()

    asyncio.run(scenario())


def test_the_memory_budget_caps_the_spares():
    async def scenario():
        made: list[StandIn] = []
        pool = pool_of(made, size=4, resident=600 * 2**20, memory_budget=1000 * 2**20)
        pool.open()
        await until(lambda: pool.spares())
        await until(lambda: not pool._wanted.is_set())  # the pool has decided to wait
        assert len(made) == 1 and pool.status()["resident_mib"] == 600
        await pool.close()

    asyncio.run(scenario())


# --- the CLI sink's spares ----------------------------------------------------------------------

ROUTES = """
version: 1
sinks:
  claude:
    kind: cli
    binary: {binary}
    warm: {warm}
    {extra}
models:
  - name: opus
routes:
  - path: /v1/messages
    dialect: anthropic.messages
access_log:
  enabled: false
"""


@pytest.fixture
def warm_gateway(mock, serve, write_config, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    from gateway.sinks.claude.binary import locate

    started = []

    def start(warm=1, extra="", binary=None):
        served = serve(
            write_config(ROUTES.format(binary=binary or locate(None), warm=warm, extra=extra))
        )
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()
    assert wait_for_no_claude() == [], "a claude process outlived its server"


def pool_status(served):
    return httpx.get(served.url + "/status", timeout=10).json()["sinks"]["claude"]["warm"]


def ready(served, count=1):
    deadline = time.monotonic() + 30
    while pool_status(served)["ready"] < count:
        assert time.monotonic() < deadline, "no spare became ready"
        time.sleep(0.02)


def ask(served, messages, system="be brief"):
    client = anthropic.Anthropic(base_url=served.url, api_key="x", max_retries=0)
    return client.messages.create(model="opus", max_tokens=50, system=system, messages=messages)


SINGLE = [{"role": "user", "content": "one question"}]
HISTORY = [
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": "second question"},
]


def upstream_view(body):
    """The upstream body without what differs between any two runs (ids)."""
    return {k: v for k, v in body.items() if k != "metadata"}


def test_spares_send_upstream_exactly_what_a_cold_start_sends(warm_gateway, mock):
    cold = warm_gateway(warm=0)
    warm = warm_gateway(warm=1)
    bodies = {}
    for name, served in (("cold", cold), ("warm", warm)):
        for messages in (SINGLE, SINGLE, HISTORY, HISTORY):
            if name == "warm":
                ready(served)
            mock.reset()
            ask(served, messages)
            [request] = mock.messages_requests()
            bodies.setdefault(name, []).append(upstream_view(request.body))
    assert bodies["warm"] == bodies["cold"]
    assert bodies["warm"][3]["messages"][1]["content"][0]["text"] == "first answer"
    status = pool_status(warm)
    # Each kind is learnt from the traffic: the first request of a system prompt (here with no
    # transcript: a primed spare) and the first conversation to resume find none and run cold;
    # the pool then starts one of their kind, and the second of each is served by it.
    assert (status["served"], status["missed"], status["unfit"]) == (2, 2, 0)


def test_nothing_of_one_request_reaches_a_later_one(warm_gateway, mock):
    served = warm_gateway(warm=2)
    ready(served, 2)
    secret = "SECRET-7f3a9c"
    ask(served, [{"role": "user", "content": f"remember {secret}"}], system=f"hidden {secret}")
    mock.reset()
    for messages in (SINGLE, SINGLE, HISTORY, HISTORY):
        ready(served)
        ask(served, messages)
    assert pool_status(served)["served"] >= 2
    for request in mock.messages_requests():
        assert secret not in json.dumps(request.body)
    # A spare primed with that system prompt could only serve a request that sends it itself;
    # every other spare's run directory holds nothing of it.
    [sink] = served.app.ctx.runtimes.current.sinks.values()
    others = [s for s in sink.pool.spares() if s.primed is None or secret not in s.primed.system]
    assert others
    leftovers = [
        path
        for spare in others
        for path in Path(spare.workdir).rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    ]
    assert leftovers == []


def test_spares_are_ended_with_their_server_and_leave_no_run_directory(warm_gateway, run_dirs):
    served = warm_gateway(warm=2)
    ready(served, 2)
    ask(served, SINGLE)
    ready(served, 2)
    [sink] = served.app.ctx.runtimes.current.sinks.values()
    spares = sink.pool.spares()
    pids = {spare.child.pid for spare in spares}
    assert len(pids) == 2 and pids <= set(claude_children())
    assert all(Path(spare.workdir).is_dir() for spare in spares)
    assert all(Path(spare.workdir).parent.parent == run_dirs.parent for spare in spares)
    served.stop()
    assert wait_for_no_claude() == []
    assert [spare.workdir for spare in spares if Path(spare.workdir).exists()] == []
    assert run_dirs.areas() == []  # the sink's area and its lock are gone too


def test_a_changed_binary_replaces_the_spares(warm_gateway, tmp_path):
    from gateway.sinks.claude.binary import locate

    wrapper = tmp_path / "claude"
    wrapper.write_text(f'#!/bin/sh\nexec "{locate(None)}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    served = warm_gateway(warm=1, binary=str(wrapper))
    ready(served)
    [old] = spare_pids(served)
    later = time.time() + 5
    os.utime(wrapper, (later, later))
    ask(served, SINGLE)  # the check is made when a spare is taken: this one runs cold
    ready(served)
    assert spare_pids(served) != {old}
    wait_until(lambda: old not in claude_children(), "the old spare to end and be reaped", 15)


def test_idle_spares_are_recycled(warm_gateway):
    served = warm_gateway(warm=1, extra="warm_max_idle: 0.5")
    ready(served)
    [first] = spare_pids(served)
    deadline = time.monotonic() + 30
    while spare_pids(served) in ({first}, set()):
        assert time.monotonic() < deadline, "the idle spare was never replaced"
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while first in claude_children():
        assert time.monotonic() < deadline, "the idle spare was never ended"
        time.sleep(0.05)


def test_no_spare_starts_before_a_login_exists_and_they_start_when_it_appears(
    warm_gateway, monkeypatch, tmp_path
):
    """Without a login, spares (~170 MiB each) would wait for requests they cannot answer: the
    pool starts none, and fills as soon as claude reports a login."""
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
    monkeypatch.setattr("gateway.sinks.claude.shared.RECHECK_AFTER", 0.2)
    home = tmp_path / "home-without-login"
    home.mkdir()
    served = warm_gateway(warm=1, extra=f"env: {{HOME: '{home}'}}")
    # Decided at start-up, before the server answers: no spare was ever asked for.
    sink = served.app.ctx.runtimes.current.sinks["claude"]
    assert sink.login.logged_in is False
    assert pool_status(served)["ready"] == 0
    # A login check that has just ended is a child too until it is reaped (claude_children
    # counts zombies): wait for those, a spare would stay.
    wait_until(lambda: claude_children() == [], "no claude child without a login", 15)
    # `claude auth login` done while the gateway serves (a token here): the pool fills.
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-test")
    ready(served)
    assert sink.login.logged_in is True
    spares = spare_pids(served)
    assert len(spares) == 1
    wait_until(lambda: set(claude_children()) == spares, "only the one spare", 15)


def test_two_login_checks_that_both_see_a_new_login_renew_the_spares_once(monkeypatch):
    """A check started before a login appeared and one started later may both find it; only
    the first to answer changes the state, so spares started under it are not replaced twice."""
    answers: list[asyncio.Future[LoginState]] = []
    both_asked = asyncio.Event()

    async def check_login(binary, env):
        answers.append(asyncio.get_running_loop().create_future())
        if len(answers) == 2:
            both_asked.set()
        return await answers[-1]

    monkeypatch.setattr("gateway.sinks.claude.shared.check_login", check_login)
    changes = []
    sink = SimpleNamespace(
        name="claude", binary=SimpleNamespace(path="claude"), settings=SimpleNamespace(env={}),
        login=LoginState(False, checked_at=1.0), _login_changed=lambda: changes.append(1),
    )  # fmt: skip

    async def both() -> None:
        first = asyncio.create_task(ClaudeSink._check_login(sink))
        second = asyncio.create_task(ClaudeSink._check_login(sink))
        await both_asked.wait()
        answers[0].set_result(LoginState(True, "oauth_token", checked_at=2.0))
        await first
        answers[1].set_result(LoginState(True, "oauth_token", checked_at=3.0))
        await second

    asyncio.run(both())
    assert sink.login.checked_at == 3.0 and sink.login.logged_in is True
    assert changes == [1]
