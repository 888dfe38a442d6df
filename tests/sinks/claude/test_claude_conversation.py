"""Where system turns go when Claude Code carries a conversation (the rules measured with CLI
2.1.330 are in gateway/sinks/claude/conversation.py; the conformance tests check what the real
binary then sends)."""

from __future__ import annotations

from gateway import ir
from gateway.sinks.claude.conversation import lay_out, transcript_lines


def user(text: str) -> ir.Message:
    return ir.Message("user", [ir.Text(text)])


def assistant(text: str) -> ir.Message:
    return ir.Message("assistant", [ir.Text(text)])


def system(text: str) -> ir.Message:
    return ir.Message("system", [ir.Text(text)])


def note(text: str) -> ir.Text:
    return ir.Text(f"<system-reminder>\n{text}\n</system-reminder>\n")


def test_after_a_user_turn_a_system_turn_is_recorded_in_place():
    recorded, replayed = lay_out([user("Q1"), system("S"), assistant("A1"), user("Q2")])
    assert recorded == [user("Q1"), system("S"), assistant("A1")] and replayed == [user("Q2")]
    row = transcript_lines(recorded, "sid")[1]
    assert row["type"] == "attachment" and row["attachment"]["prompt"] == "S"
    assert row["attachment"]["origin"] == {"kind": "observer-activity"}


def test_after_the_first_replayed_user_turn_it_ends_the_transcript():
    recorded, replayed = lay_out([user("Q1"), assistant("A1"), user("Q2"), system("S")])
    assert recorded == [user("Q1"), assistant("A1"), system("S")] and replayed == [user("Q2")]


def test_where_it_cannot_be_placed_it_is_folded_keeping_the_order():
    call = ir.ToolUse("t1", "get", {})
    result = ir.ToolResult("t1", [ir.Text("R")])
    # No transcript to hold it: appended to the user turn it follows.
    _, replayed = lay_out([user("Q1"), system("S")])
    assert replayed == [ir.Message("user", [ir.Text("Q1"), note("S")])]
    # After an assistant turn: ahead of the next user turn's text, after its tool results.
    _, replayed = lay_out(
        [
            user("Q1"),
            ir.Message("assistant", [call]),
            system("S"),
            ir.Message("user", [result, ir.Text("go on")]),
        ]
    )
    assert replayed[-1] == ir.Message("user", [result, note("S"), ir.Text("go on")])


def test_after_the_last_assistant_turn_they_make_the_turn_the_model_answers():
    # An OpenAI client's [..., assistant, developer "now summarize"].
    _, replayed = lay_out([user("Q1"), assistant("A1"), system("now summarize")])
    assert replayed == [ir.Message("user", [note("now summarize")])]


def test_the_requests_messages_are_left_unchanged():
    messages = [user("Q1"), system("S")]
    lay_out(messages)
    assert messages == [user("Q1"), system("S")]
