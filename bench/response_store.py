"""What storing Responses costs: the store's own calls, and a request end to end.

1. The store alone (gateway/response_store/service.py): ``save`` of a typical response (a user
   turn, a reasoning item and a message, ~1.5 KB as JSON) and ``conversation`` of a chain of
   1, 10 and 50 responses, each timed per call on SQLite (a temp file) and, when their URLs are
   given, PostgreSQL and Redis.
2. End to end: one `gateway serve` process in front of the mock upstream (an HTTP sink);
   requests to /v1/responses alternate one by one between ``store: true`` and ``store: false``
   (so both see the same machine); reports the p50 of each and their difference, whole and
   streamed; then the gateway's CPU time per request (all threads, from /proc: steadier than
   latency on a shared machine) over batches of each, interleaved.

    .venv/bin/python bench/response_store.py [--calls 500] [--requests 600]
        [--postgres postgresql://...] [--redis redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "teams"))
sys.path.insert(0, str(ROOT))
from mock_upstream import MockUpstream  # noqa: E402
from real_servers import GatewayProcess  # noqa: E402

from gateway.config import load_config  # noqa: E402
from gateway.response_store.service import ResponseStore  # noqa: E402

ROUTES = """
version: 1
sinks:
  up: {{kind: http, base_url: "{upstream}", dialect: anthropic.messages}}
models:
  - name: opus
routes:
  - {{path: /v1/responses, dialect: openai.responses}}
access_log: {{enabled: false}}
usage: {{enabled: false}}
responses: {{{responses}}}
"""


def _response(number: int, previous: str | None) -> tuple[dict, list[dict]]:
    response_id = f"resp_{number:032x}"
    output = [
        {"type": "reasoning", "id": f"rs_{number}_0", "summary": [
            {"type": "summary_text", "text": "thinking " * 40}],
         "encrypted_content": "claude-thinking:" + "s" * 200, "status": "completed"},
        {"type": "message", "id": f"msg_{number}_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "answer " * 80, "annotations": []}]},
    ]  # fmt: skip
    response = {"id": response_id, "object": "response", "created_at": time.time(),
                "status": "completed", "output": output, "previous_response_id": previous}  # fmt: skip
    asked = [{"type": "message", "id": f"msg_in_{number}", "role": "user", "status": "completed",
              "content": [{"type": "input_text", "text": "question " * 20}]}]  # fmt: skip
    return response, asked


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9)]
    return f"p50 {statistics.median(ordered) * 1000:.3f} ms, p90 {p90 * 1000:.3f} ms"


async def _store_alone(name: str, responses: str, calls: int) -> None:
    owner = f"bench-{time.time_ns()}"  # a database of an earlier run keeps its own
    folder = Path(tempfile.mkdtemp())
    path = folder / "routes.yaml"
    path.write_text(ROUTES.format(upstream="http://127.0.0.1:9", responses=responses))
    store = ResponseStore()
    await store.configure(load_config(path))
    saves, previous, number = [], None, 0
    for _ in range(calls):
        number += 1
        response, asked = _response(number, None)
        started = time.perf_counter()
        await store.save(owner, response, asked)
        saves.append(time.perf_counter() - started)
    print(f"{name}: save {_ms(saves)}")
    for depth in (1, 10, 50):
        previous = None
        for _ in range(depth):
            number += 1
            response, asked = _response(number, previous)
            await store.save(owner, response, asked)
            previous = response["id"]
        loads = []
        for _ in range(max(20, calls // 5)):
            started = time.perf_counter()
            items = await store.conversation(owner, previous)
            loads.append(time.perf_counter() - started)
        assert items is not None and len(items) == depth * 3
        print(f"{name}: conversation of {depth:2} responses {_ms(loads)}")
    await store.close()


def _end_to_end(requests: int) -> None:
    mock = MockUpstream().start()
    folder = Path(tempfile.mkdtemp())
    config = folder / "routes.yaml"
    config.write_text(ROUTES.format(upstream=mock.base_url, responses=f"path: {folder}/r.db"))
    gateway = GatewayProcess(config).start().wait_ready()
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            for stream in (False, True):
                timings: dict[bool, list[float]] = {True: [], False: []}
                for i in range(requests):
                    store = i % 2 == 0
                    body = {"model": "opus", "input": "hi", "store": store, "stream": stream}
                    started = time.perf_counter()
                    answer = client.post("/v1/responses", json=body)
                    answer.read()
                    timings[store].append(time.perf_counter() - started)
                    assert answer.status_code == 200, answer.text
                kept, unkept = (statistics.median(timings[k]) * 1000 for k in (True, False))
                shape = "streamed" if stream else "whole"
                print(f"end to end, {shape}: store true p50 {kept:.2f} ms, store false "
                      f"p50 {unkept:.2f} ms, difference {kept - unkept:+.2f} ms")  # fmt: skip
            assert gateway.process is not None
            cpu: dict[bool, float] = {True: 0.0, False: 0.0}
            batch = max(50, requests // 6)
            for _ in range(3):
                for store in (True, False):
                    before = _cpu_seconds(gateway.process.pid)
                    for _ in range(batch):
                        body = {"model": "opus", "input": "hi", "store": store}
                        assert client.post("/v1/responses", json=body).status_code == 200
                    cpu[store] += _cpu_seconds(gateway.process.pid) - before
            per = {k: v / (3 * batch) * 1000 for k, v in cpu.items()}
            print(f"gateway CPU per whole request: store true {per[True]:.2f} ms, store false "
                  f"{per[False]:.2f} ms, difference {per[True] - per[False]:+.2f} ms")  # fmt: skip
    finally:
        gateway.stop()
        mock.stop()


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--postgres")
    parser.add_argument("--redis")
    args = parser.parse_args()
    backends = [("sqlite", f"path: {tempfile.mkdtemp()}/responses.db")]
    backends += [("postgresql", f"url: '{args.postgres}'")] if args.postgres else []
    backends += [("redis", f"url: '{args.redis}'")] if args.redis else []
    for name, responses in backends:
        asyncio.run(_store_alone(name, responses, args.calls))
    _end_to_end(args.requests)


if __name__ == "__main__":
    main()
