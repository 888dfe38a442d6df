"""What judging a relayed stream's shape costs the relay: ``python bench/relay_check.py``.

The passthrough checks every whole line of a relayed SSE stream (flow/relay_check.py) while it
reads the usage (flow/relay.py's UsageSniffer). This feeds the same Anthropic stream, one read
per event as a streaming upstream delivers it and in 16 KiB reads as a fast one does, through
the sniffer with and without the check, and prints the CPU time per read and per stream
(medians of 7 runs of 200 streams each).
"""

from __future__ import annotations

import json
import statistics
import time

from gateway.flow.relay import UsageSniffer
from gateway.flow.relay_check import StreamShape


def _stream(deltas: int) -> bytes:
    def event(kind: str, payload: dict) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()

    usage = {"input_tokens": 1200, "output_tokens": 1}
    parts = [event("message_start", {"message": {"id": "m", "usage": usage}})]
    parts.append(event("content_block_start", {"index": 0, "content_block": {"type": "text"}}))
    for i in range(deltas):
        delta = {"type": "text_delta", "text": f"word{i} and some more words, "}
        parts.append(event("content_block_delta", {"index": 0, "delta": delta}))
    parts.append(event("content_block_stop", {"index": 0}))
    parts.append(event("message_delta", {"delta": {}, "usage": {"output_tokens": deltas}}))
    parts.append(event("message_stop", {}))
    return b"".join(parts)


def _run(reads: list[bytes], checked: bool, streams: int) -> float:
    started = time.process_time()
    for _ in range(streams):
        shape = StreamShape(anthropic=True) if checked else None
        sniffer = UsageSniffer(shape=shape)
        for chunk in reads:
            sniffer.feed(chunk)
        if shape is not None:
            assert shape.verdict(sniffer.unfinished) is None
    return time.process_time() - started


def main() -> None:
    stream = _stream(400)
    by_event = [part + b"\n\n" for part in stream.split(b"\n\n") if part]
    by_16k = [stream[i : i + 16384] for i in range(0, len(stream), 16384)]
    print(f"one stream: {len(stream):,} bytes, {len(by_event)} events")
    for name, reads in (("a read per event", by_event), ("16 KiB reads", by_16k)):
        timings = {}
        for checked in (False, True):
            runs = [_run(reads, checked, 200) for _ in range(7)]
            timings[checked] = statistics.median(runs) / 200
        extra = timings[True] - timings[False]
        print(
            f"{name:>17}: {len(reads):4} reads; sniffer {timings[False] * 1e6:7.1f} us a "
            f"stream, with the check {timings[True] * 1e6:7.1f} us (+{extra * 1e6:.1f} us, "
            f"+{extra / len(reads) * 1e9:.0f} ns a read)"
        )


if __name__ == "__main__":
    main()
