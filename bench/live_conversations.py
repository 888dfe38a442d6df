"""Live conversations against today's best path: agent conversations through the CLI sink.

Two gateways side by side against the mock upstream (tests/mock_upstream.py --agent), in the
same run:

- ``warm``: today's path, processes started ahead of requests (``warm: N``), one per request;
- ``live``: the same with ``live: 8``: a conversation keeps its process.

A conversation is TURNS requests of an agent: every other request asks for something the model
answers with a tool call (a fresh tool_use id), the next one brings the tool's result, the
client waiting PACE seconds before each (the tool running, the user reading). Measured per
request: time to the first token (the first ``content_block_delta``), and per conversation the
CPU of the gateway and every ``claude`` it ran (from /proc: the gateway's own time, its reaped
children's, and the children still alive), divided by the requests.

Rounds alternate the gateways: one conversation at a time (ROUNDS rounds), then four at once
(each gateway in turn). Printed: medians of turns 2-TURNS and their ratios (live / warm).

    .venv/bin/python bench/live_conversations.py [--rounds 3] [--turns 20] [--pace 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from claude_latency import ROOT, free_port, wait_http
from procs import cpu_seconds

_TICKS = os.sysconf("SC_CLK_TCK")

ROUTES = """
version: 1
sinks:
  claude: {{kind: cli, max_concurrency: 8, warm: {warm}, live: {live}}}
models:
  - name: sonnet
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
access_log: {{enabled: false}}
"""
TOOL = {"name": "lookup", "description": "Looks something up", "input_schema": {
    "type": "object", "properties": {"query": {"type": "string"}}}}  # fmt: skip
SYSTEM = "You are an agent. Use the lookup tool when asked."


def start_gateway(tmp: Path, name: str, warm: int, live: int) -> tuple[subprocess.Popen, str]:
    config = tmp / f"routes-{name}.yaml"
    config.write_text(ROUTES.format(warm=warm, live=live))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port",
         str(port), "--no-reload"],
        env={**os.environ, "LOG_LEVEL": "WARNING"}, cwd=tmp,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health")
    return process, base


def wait_spares(base: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while (
        httpx.get(base + "/status").json()["sinks"]["claude"].get("warm", {}).get("ready", 0)
        < count
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("the spares never became ready")
        time.sleep(0.05)


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid``, of its children it has reaped, and of those still running."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / _TICKS  # utime stime cutime cstime
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            children = [
                int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()
            ]
        except OSError:
            continue
        for child in children:
            try:
                total += cpu_seconds(child)
            except (OSError, IndexError):
                continue
            todo.append(child)
    return total


def turn(client: httpx.Client, url: str, messages: list) -> tuple[float, dict]:
    """One request, streamed: (seconds to the first token, the answer as the client echoes it)."""
    body = {"model": "sonnet", "max_tokens": 256, "system": SYSTEM, "tools": [TOOL],
            "stream": True, "messages": messages}  # fmt: skip
    started = time.perf_counter()
    first = None
    blocks: list[dict] = []
    inputs: dict[int, str] = {}
    with client.stream(
        "POST", url, json=body, headers={"anthropic-version": "2023-06-01"}
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            kind = event["type"]
            if kind == "content_block_start":
                blocks.append(dict(event["content_block"]))
            elif kind == "content_block_delta":
                if first is None:
                    first = time.perf_counter() - started
                delta = event["delta"]
                if delta["type"] == "text_delta":
                    blocks[event["index"]]["text"] += delta["text"]
                elif delta["type"] == "input_json_delta":
                    inputs[event["index"]] = inputs.get(event["index"], "") + delta["partial_json"]
    for index, text in inputs.items():
        blocks[index]["input"] = json.loads(text or "{}")
    assert first is not None, "no token came"
    return first, {"role": "assistant", "content": blocks}


def conversation(
    url: str, turns: int, pace: float, ttfts: list[float], lock: threading.Lock
) -> None:
    """An agent's conversation: a request that calls a tool, its result, and so on."""
    messages: list = []
    answer: dict | None = None
    with httpx.Client(timeout=120) as client:
        for number in range(turns):
            if answer is not None:
                messages.append(answer)
            if number % 2 == 0:
                messages.append({"role": "user", "content": f"step {number}: use a tool, please"})
            else:
                [call] = [b for b in answer["content"] if b["type"] == "tool_use"]  # type: ignore[index]
                messages.append({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": call["id"], "content": f"result {number}"}]})  # fmt: skip
            time.sleep(pace)
            first, answer = turn(client, url + "/v1/messages", list(messages))
            if number:  # turns 2..N: the ones a live process can serve
                with lock:
                    ttfts.append(first)


def run(
    gateway: subprocess.Popen, url: str, clients: int, turns: int, pace: float
) -> tuple[list[float], float]:
    """``clients`` conversations at once: (times to the first token, CPU seconds per request)."""
    ttfts: list[float] = []
    lock = threading.Lock()
    before = tree_cpu(gateway.pid)
    threads = [threading.Thread(target=conversation, args=(url, turns, pace, ttfts, lock))
               for _ in range(clients)]  # fmt: skip
    for thread in threads:
        thread.start()
        time.sleep(pace / clients)
    for thread in threads:
        thread.join()
    return ttfts, (tree_cpu(gateway.pid) - before) / (clients * turns)


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:6.0f} ms (range {min(values) * 1000:.0f}-{max(values) * 1000:.0f}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--pace", type=float, default=1.0)
    parser.add_argument("--warm", type=int, default=4)
    args = parser.parse_args()
    mock_port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    os.environ.update(
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{mock_port}", ANTHROPIC_API_KEY="bench-dummy",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )  # fmt: skip
    processes: list[subprocess.Popen] = []
    try:
        processes.append(subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "mock_upstream.py"), "--port", str(mock_port), "--agent"]
        ))  # fmt: skip
        wait_http(f"http://127.0.0.1:{mock_port}/health")
        gateways = {
            "warm": start_gateway(tmp, "warm", args.warm, 0),
            "live": start_gateway(tmp, "live", args.warm, 8),
        }
        processes += [process for process, _ in gateways.values()]
        results: dict[str, dict[str, list[float]]] = {
            name: {"ttft": [], "cpu": [], "ttft_c4": [], "cpu_c4": []} for name in gateways
        }
        for clients, ttft_key, cpu_key, rounds in (
            (1, "ttft", "cpu", args.rounds),
            (4, "ttft_c4", "cpu_c4", 1),
        ):
            for _ in range(rounds):
                for name, (process, url) in gateways.items():
                    wait_spares(url, args.warm)
                    ttfts, cpu = run(process, url, clients, args.turns, args.pace)
                    results[name][ttft_key] += ttfts
                    results[name][cpu_key].append(cpu)
        live_status = httpx.get(gateways["live"][1] + "/status").json()["sinks"]["claude"]["live"]
        print(f"agent conversations of {args.turns} requests (a tool call every other one), "
              f"{args.pace} s before each request; warm: {args.warm} on both, live: 8 on one")  # fmt: skip
        for clients, ttft_key, cpu_key in ((1, "ttft", "cpu"), (4, "ttft_c4", "cpu_c4")):
            print(f"{clients} conversation(s) at once, requests 2-{args.turns}:")
            for name in gateways:
                cpu = statistics.median(results[name][cpu_key])
                print(
                    f"  {name:5} first token {ms(results[name][ttft_key])}; CPU per request {cpu * 1000:5.0f} ms"
                )
            ttft_ratio = statistics.median(results["live"][ttft_key]) / statistics.median(
                results["warm"][ttft_key]
            )
            cpu_ratio = statistics.median(results["live"][cpu_key]) / statistics.median(
                results["warm"][cpu_key]
            )
            print(f"  live / warm: first token {ttft_ratio:.2f}, CPU per request {cpu_ratio:.2f}")
        print(f"live pool at the end: hits {live_status['hits']}, misses {live_status['misses']}, "
              f"ended {live_status['ended']}")  # fmt: skip
        for name, (_, url) in gateways.items():
            warm = httpx.get(url + "/status").json()["sinks"]["claude"]["warm"]
            print(
                f"spares of {name}: served {warm['served']}, missed {warm['missed']}, unfit {warm['unfit']}"
            )
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        report = {
            name: {k: [round(v * 1000, 1) for v in vs] for k, vs in r.items()}
            for name, r in results.items()
        }
        report["args"] = vars(args)  # type: ignore[assignment]
        (out / f"live-conversations-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
            json.dumps(report, indent=2)
        )
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                process.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
