#!/usr/bin/env python3
"""Stands in for `claude` in fault tests only; FAKE_CLAUDE_MODE picks the fault.

Every feature is tested with the real binary; this script only produces what the real one
does rarely: a crash, a hang, garbage, a huge line, an exit without a result.
"""

import json
import os
import sys
import time


def line(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def event(ev):
    line({"type": "stream_event", "event": ev})


def start():
    line({"type": "system", "subtype": "init", "session_id": "fake"})
    event(
        {
            "type": "message_start",
            "message": {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": "fake-model",
                "content": [],
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        }
    )
    event(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )


def finish(text, output_tokens=5):
    event({"type": "content_block_stop", "index": 0})
    event(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": output_tokens},
        }
    )
    event({"type": "message_stop"})
    line(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": text,
            "stop_reason": "end_turn",
            "total_cost_usd": 0.001,
            "usage": {"input_tokens": 3, "output_tokens": output_tokens},
        }
    )


def main():
    if "--version" in sys.argv:
        print("2.1.330 (Claude Code)")
        return 0
    mode = os.environ.get("FAKE_CLAUDE_MODE", "")
    if mode == "crash":
        sys.stderr.write("fatal: the fake claude crashed on purpose\n")
        return 3
    if mode == "hang":
        start()
        time.sleep(3600)
    if mode == "garbage":
        print("Warning: this line is not JSON at all")
        return 0
    if mode == "huge":
        # An 8 MB answer: one delta line and one assistant line of that size, with
        # multi-byte characters that the reader's chunks will split.
        text = "é€" * (4 * 1024 * 1024 // 5)
        start()
        event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            }
        )
        line({"type": "assistant", "message": {"content": [{"type": "text", "text": text}]}})
        finish(text, output_tokens=len(text))
        return 0
    if mode == "noresult":
        start()
        event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "half an ans"},
            }
        )
        return 0
    if mode == "notloggedin":
        line(
            {
                "type": "result",
                "subtype": "success",
                "is_error": True,
                "result": "Not logged in · Please run /login",
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
        )
        return 1
    if mode == "stderr-noise":
        sys.stderr.write("some warning on stderr\n" * 1000)
        start()
        event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "fine"},
            }
        )
        finish("fine")
        return 0
    sys.stderr.write(f"unknown FAKE_CLAUDE_MODE {mode!r}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
