"""The SSE decoder: any chunking gives the same events, and its memory is bounded."""

from __future__ import annotations

import pytest

from gateway.wire.sse import SSEDecoder, SSETooLarge

STREAM = (
    'event: message_start\ndata: {"a": "Ünïcödé ✓"}\n\n'
    ": a comment\n\n"
    "data: line one\r\ndata: line two\r\n\r\n"
    "data: [DONE]\n\n"
).encode()


def events_of(chunks: list[bytes], decoder: SSEDecoder | None = None) -> list[tuple]:
    decoder = decoder or SSEDecoder()
    out = [e for chunk in chunks for e in decoder.decode(chunk)] + decoder.flush()
    return [(e.event, e.data) for e in out]


def test_every_chunking_gives_the_same_events():
    whole = events_of([STREAM])
    assert whole == [
        ("message_start", '{"a": "Ünïcödé ✓"}'),
        (None, "line one\nline two"),
        (None, "[DONE]"),
    ]
    assert events_of([bytes([b]) for b in STREAM]) == whole
    for cut in range(1, len(STREAM)):
        assert events_of([STREAM[:cut], STREAM[cut:]]) == whole


def test_an_event_over_the_limit_is_refused_before_it_is_held():
    decoder = SSEDecoder(max_event=1000)
    decoder.decode(b"data: " + b"x" * 500)
    with pytest.raises(SSETooLarge, match="over"):
        decoder.decode(b"x" * 600)


def test_a_long_stream_of_small_events_never_reaches_the_limit():
    decoder = SSEDecoder(max_event=1000)
    for _ in range(5000):
        assert [e.data for e in decoder.decode(b": ping\n\ndata: 12345\n\n")] == ["12345"]
