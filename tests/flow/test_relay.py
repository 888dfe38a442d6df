"""The usage of a relayed stream is found whatever the chunking."""

from __future__ import annotations

import pytest

from gateway.flow.relay import UsageSniffer

ANTHROPIC = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":11,"output_tokens":1,"cache_read_input_tokens":4}}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"usage is a word"}}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n'
)
OPENAI = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":2}}}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("size", [1, 2, 5, 17, 64, 100_000])
def test_usage_survives_any_chunking(size):
    for stream, expected in ((ANTHROPIC, (11, 7, 4)), (OPENAI, (18, 5, 2))):
        sniffer = UsageSniffer()
        for start in range(0, len(stream), size):
            sniffer.feed(stream[start : start + size])
        usage = sniffer.usage
        assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == expected


@pytest.mark.parametrize("size", [1, 3, 17, 100_000])
def test_a_usage_chunk_the_client_did_not_ask_for_is_not_relayed(size):
    sniffer = UsageSniffer(strip_usage_chunk=True)
    relayed = b"".join(sniffer.feed(OPENAI[i : i + size]) for i in range(0, len(OPENAI), size))
    relayed += sniffer.rest()
    assert relayed == OPENAI.replace(OPENAI.split(b"\n\n")[1] + b"\n\n", b"")
    assert (sniffer.usage.input_tokens, sniffer.usage.output_tokens) == (18, 5)


def test_without_stripping_chunks_are_relayed_as_they_came():
    sniffer = UsageSniffer()
    assert [sniffer.feed(OPENAI[i : i + 7]) for i in range(0, len(OPENAI), 7)] == [
        OPENAI[i : i + 7] for i in range(0, len(OPENAI), 7)
    ]
    assert sniffer.rest() == b""


def test_a_line_longer_than_what_is_held_back_goes_on_whole():
    # A base64 image in one delta, in 700 kB reads: nothing of it may be lost.
    big = b'data: {"choices":[{"delta":{"content":"' + b"x" * 1_500_000 + b'"}}]}\n\n'
    stream = big + OPENAI
    sniffer = UsageSniffer(strip_usage_chunk=True)
    size = 700_000
    relayed = b"".join(sniffer.feed(stream[i : i + size]) for i in range(0, len(stream), size))
    relayed += sniffer.rest()
    assert relayed == big + OPENAI.replace(OPENAI.split(b"\n\n")[1] + b"\n\n", b"")
