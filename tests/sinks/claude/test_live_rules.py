"""The rules of live conversations without a process: which request continues which kept
conversation (gateway/sinks/claude/live_conversation.py) and how the pool finds, keeps and ends
processes (live_pool.py), with stand-in processes. The real `claude` is in test_live.py."""

from __future__ import annotations

import asyncio
import json
import time

from gateway import ir
from gateway.commands.main import main
from gateway.sinks.claude.live_conversation import (
    CARRIED_RESULT_CHARS,
    Continuation,
    chain_of,
    extend,
    next_turn,
    setup_digest,
    upstream_turns,
)
from gateway.sinks.claude.live_pool import LivePool
from gateway.sinks.claude.live_process import calendar_dates


def user(*parts) -> ir.Message:
    return ir.Message("user", [ir.Text(p) if isinstance(p, str) else p for p in parts])


def assistant(text: str) -> ir.Message:
    return ir.Message("assistant", [ir.Text(text)])


def system(text: str) -> ir.Message:
    return ir.Message("system", [ir.Text(text)])


def note(text: str) -> ir.Text:
    return ir.Text(f"<system-reminder>\n{text}\n</system-reminder>\n")


def setup(caller: str = "key:alice", **changes) -> str:
    values = {"model": "opus", "system": "be brief", "tools": [], "environment": {}} | changes
    return setup_digest(caller, values["model"], values["system"], values["tools"],
                        values["environment"])  # fmt: skip


# --- the conversation as the upstream gets it ---------------------------------------------------


def test_the_upstream_order_keeps_placed_system_turns_and_folds_the_others():
    # After a user turn, in the transcript: in place.
    assert upstream_turns([user("Q1"), system("S"), assistant("A1"), user("Q2")]) == [
        user("Q1"), system("S"), assistant("A1"), user("Q2"),
    ]  # fmt: skip
    # At the transcript's end, after the first replayed user turn: where the client put it.
    assert upstream_turns([user("Q1"), assistant("A1"), user("Q2"), system("S")]) == [
        user("Q1"), assistant("A1"), user("Q2"), system("S"),
    ]  # fmt: skip
    # With no transcript (Claude Code's first request): folded into the user turn.
    assert upstream_turns([user("Q1"), system("S")]) == [user("Q1", note("S"))]


def test_a_request_continues_exactly_the_chain_of_its_history():
    first = [user("Q1"), system("S")]
    kept = extend(chain_of(setup(), upstream_turns(first)), [assistant("A1")])
    later = upstream_turns([*first, assistant("A1"), user("Q2")])
    # Folded on the first request, in place on the next: not the same upstream turns, so the
    # process (which holds the folded form) is not the one to answer.
    assert chain_of(setup(), later)[-2] != kept[-1]
    plain = [user("Q1"), assistant("A1"), user("Q2")]
    kept = extend(chain_of(setup(), upstream_turns(plain[:1])), [assistant("A1")])
    assert chain_of(setup(), upstream_turns(plain))[-2] == kept[-1]
    for other in (
        setup("key:bob"), setup(model="sonnet"), setup(system="be long"),
        setup(environment={"CLAUDE_CODE_EXTRA_BODY": '{"temperature": 0.5}'}),
        setup(tools=[ir.Tool("f", {"type": "object"})]),
    ):  # fmt: skip
        assert chain_of(other, upstream_turns(plain))[-2] != kept[-1]
    edited = [user("Q1"), assistant("A1."), user("Q2")]
    assert chain_of(setup(), upstream_turns(edited))[-2] != kept[-1]


def test_what_a_held_call_can_be_given():
    image = ir.Image("image/png", "iVBORw0KGgo=")
    turn = next_turn(user(ir.ToolResult("t1", [ir.Text("sunny")]), ir.ToolResult("t2", [image])))
    assert isinstance(turn, Continuation) and turn.kind == "results"
    assert turn.results == (
        ("t1", {"content": [{"type": "text", "text": "sunny"}]}),
        ("t2", {"content": [{"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"}]}),
    )
    refused = {
        "error": ir.ToolResult("t1", [ir.Text("failed")], is_error=True),
        "empty": ir.ToolResult("t1", []),
        "blank": ir.ToolResult("t1", [ir.Text(" \n")]),
        "large": ir.ToolResult("t1", [ir.Text("x" * (CARRIED_RESULT_CHARS + 1))]),
        "url": ir.ToolResult("t1", [ir.Image(url="https://example.com/a.png")]),
    }
    for name, result in refused.items():
        assert isinstance(next_turn(user(result)), str), name
    assert isinstance(next_turn(user(ir.ToolResult("t1", [ir.Text("a")]), "and more")), str)
    line = next_turn(user("Q2"))
    assert isinstance(line, Continuation) and line.kind == "user"
    assert line.line is not None and line.line.message["message"]["content"] == [
        {"type": "text", "text": "Q2"}
    ]


# --- the pool -----------------------------------------------------------------------------------


class StandIn:
    """What the pool reads of a live process."""

    def __init__(self, chain, *, hint=None, calls=()):
        self.chain, self.hint, self.calls = chain, hint, calls
        self.setup = chain[0]
        self.pid = 0
        self.answers = 1
        self.started = self.last_used = time.monotonic()
        self.dates = calendar_dates()
        self.ended = False

    def alive(self):
        return not self.ended

    async def end(self):
        self.ended = True


def kept(history: list[ir.Message], answer: str, **options) -> StandIn:
    chain = extend(chain_of(setup(), upstream_turns(history)), [assistant(answer)])
    return StandIn(chain, **options)


def request(history: list[ir.Message], caller: str = "key:alice") -> tuple[str, ...]:
    return chain_of(setup(caller), upstream_turns(history))


def with_pool(scenario, **options):
    async def run():
        settings = {"size": 4, "max_idle": 60.0, "max_age": 600.0, "memory_budget": 2**40,
                    "reserve": 0} | options  # fmt: skip
        pool = LivePool("test", **settings)
        pool.open()
        try:
            await scenario(pool)
        finally:
            await pool.close()

    asyncio.run(run())


async def settled(pool: LivePool) -> None:
    await asyncio.gather(*pool._ending)


def test_a_process_serves_the_next_turn_of_its_own_conversation_only():
    async def scenario(pool):
        process = kept([user("Q1")], "A1")
        assert pool.keep(process) is None
        history = [user("Q1"), assistant("A1")]
        turn = next_turn(user("Q2"))
        assert pool.find(request([*history, user("Q2")], "key:bob"), turn, None) is None
        assert pool.find(request([user("Q1"), assistant("A1!"), user("Q2")]), turn, None) is None
        assert pool.find(request([*history, user("Q2")]), turn, None) is process
        assert pool.find(request([*history, user("Q2")]), turn, None) is None  # it is busy
        assert (pool.hits, dict(pool.misses)) == (1, {"new": 3})
        assert not process.ended

    with_pool(scenario)


def test_a_process_holding_calls_takes_only_their_results_in_order():
    async def scenario(pool):
        calls = ir.Message("assistant", [ir.ToolUse("t1", "f"), ir.ToolUse("t2", "f")])
        history = [user("Q1"), calls]
        chain = extend(request([user("Q1")]), [calls])

        def results(*ids):
            return user(*(ir.ToolResult(i, [ir.Text("ok")]) for i in ids))

        for turn, reason in (
            (results("t2", "t1"), "mismatch"),
            (user("never mind"), "mismatch"),
            (user(ir.ToolResult("t1", [ir.Text("x")], is_error=True), ir.ToolResult("t2", [])),
             "results"),
        ):  # fmt: skip
            process = StandIn(chain, calls=("t1", "t2"))
            pool.keep(process)
            assert pool.find(request([*history, turn]), next_turn(turn), None) is None
            await settled(pool)
            assert process.ended and pool.ended[reason] >= 1
        process = StandIn(chain, calls=("t1", "t2"))
        pool.keep(process)
        turn = results("t1", "t2")
        assert pool.find(request([*history, turn]), next_turn(turn), None) is process

    with_pool(scenario)


def test_stale_processes_are_ended_by_what_a_request_shows():
    async def scenario(pool):
        base = [user("Q1"), assistant("A1"), user("Q2")]
        ahead = kept(base, "A2")
        pool.keep(ahead)
        assert pool.find(request(base), next_turn(user("Q2")), None) is None  # Q2 retried
        await settled(pool)
        assert ahead.ended
        behind = kept([user("Q1")], "A1")
        pool.keep(behind)
        later = [*base, assistant("A2"), user("Q3")]  # answered elsewhere since
        assert pool.find(request(later), next_turn(user("Q3")), None) is None
        await settled(pool)
        assert behind.ended and dict(pool.misses) == {"edited": 2}
        # A new conversation that begins as a kept one did: not a sign of anything.
        other = kept([user("Q1")], "A1")
        pool.keep(other)
        assert pool.find(request([user("Q1")]), next_turn(user("Q1")), None) is None
        await settled(pool)
        assert not other.ended

    with_pool(scenario)


def test_the_session_hint_ends_a_process_whose_history_it_no_longer_shares():
    async def scenario(pool):
        process = kept([user("Q1")], "A1", hint="session-1")
        unrelated = kept([user("Z1")], "Y1", hint="session-2")
        pool.keep(process)
        pool.keep(unrelated)
        compacted = [user("summary of Q1 and A1"), assistant("ok"), user("Q2")]
        assert pool.find(request(compacted), next_turn(user("Q2")), "session-1") is None
        await settled(pool)
        assert process.ended and not unrelated.ended

    with_pool(scenario)


def test_bounds_end_the_least_recently_used_and_the_expired():
    async def scenario(pool):
        first, second, third = (kept([user(q)], "A") for q in ("Q1", "Q2", "Q3"))
        for process in (first, second, third):
            pool.keep(process)
        await settled(pool)
        assert first.ended and not second.ended and pool.ended["evicted"] == 1
        third.last_used -= 120  # idle past max_idle: the housekeeping ends it
        pool._changed.set()
        deadline = time.monotonic() + 10
        while not third.ended:
            assert time.monotonic() < deadline, "the idle process was never ended"
            await asyncio.sleep(0.01)
        second.dates = ("1999-12-31", "1999-12-31")  # the date changed since it started
        history = [user("Q2"), assistant("A"), user("Q3")]
        assert pool.find(request(history), next_turn(user("Q3")), None) is None
        await settled(pool)
        assert second.ended and pool.ended["date"] == 1 and pool.misses["date"] == 1

    with_pool(scenario, size=2)


# --- gateway try ----------------------------------------------------------------------------------


def test_gateway_try_says_whether_a_live_process_could_answer(tmp_path, capsys):
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "version: 1\nsinks:\n  claude: {kind: cli, live: 4}\nmodels:\n  - name: opus\n"
        "routes:\n  - {path: /v1/messages, dialect: anthropic.messages}\n"
    )

    def tried(messages):
        body = json.dumps({"model": "opus", "max_tokens": 5, "messages": messages})
        assert main(["try", "/v1/messages", "--data", body, "--config", str(routes)]) == 0
        return json.loads(capsys.readouterr().out)["sink_call"]

    first = tried([{"role": "user", "content": "hi"}])
    argv = first["argv"]
    assert argv[argv.index("--max-turns") + 1] == "1000"
    assert argv[argv.index("--allowedTools") + 1] == "mcp__gateway_client_tools"
    assert first["live"]["served_live"] is False and "first turn" in first["live"]["why"]
    call = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [call]}]
    result = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
    later = tried([*history, {"role": "user", "content": [result]}])["live"]
    assert "3 turns" not in later["served_live"] and "2 turns" in later["served_live"]
    assert later["continues_with"] == "the results of the tool calls it holds"
    failed = tried([*history, {"role": "user", "content": [result | {"is_error": True}]}])["live"]
    assert failed["served_live"] is False and "error tool result" in failed["why"]
