"""Time to first token through the CLI sink with and without processes started ahead (warm: N).

Against the mock upstream on 127.0.0.1, interleaved rounds of:

- a cold `claude -p --output-format stream-json --include-partial-messages` spawned directly
  (the sink's own command: the figure to beat);
- the gateway's CLI sink with `warm: 0` (a cold start per request);
- the gateway's CLI sink with `warm: N`;

one request at a time, PACE seconds apart (the pool has time to refill); then 4 clients at once
for a while on each gateway, back to back (the machine saturated: every request costs one
process start, warm or not) and paced (each client waits PACE after an answer); then the
resident memory of a gateway and its spares for N = 1, 2, 4.

    .venv/bin/python bench/warm_pool.py [--rounds 8] [--pace 1.5] [--warm 2]
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
from claude_latency import ROOT, direct_cli, free_port, through_gateway, wait_http

from gateway.sinks.claude.binary import locate

ROUTES = """
version: 1
sinks:
  claude: {{kind: cli, max_concurrency: 8, warm: {warm}}}
models:
  - name: sonnet
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
access_log: {{enabled: false}}
"""


def start_gateway(tmp: Path, warm: int) -> tuple[subprocess.Popen, str]:
    config = tmp / f"routes-{warm}.yaml"
    config.write_text(ROUTES.format(warm=warm))
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


def tree_rss_mib(pid: int) -> float:
    """VmRSS of ``pid`` and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(child) for child in children]
    return total / 1024


def concurrent(url: str, clients: int, per_client: int, pace: float = 0.0) -> list[float]:
    """``clients`` threads, each sending ``per_client`` requests, one after the other; with
    ``pace``, each waits that long after an answer before its next request (the clients start
    ``pace / clients`` apart, as independent users would)."""
    firsts: list[float] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        time.sleep(pace * number / clients)
        for _ in range(per_client):
            first, _ = through_gateway(url)
            with lock:
                firsts.append(first)
            time.sleep(pace)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return firsts


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:6.0f} ms (range {min(values) * 1000:.0f}-{max(values) * 1000:.0f}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--pace", type=float, default=1.5)
    parser.add_argument("--warm", type=int, default=2)
    parser.add_argument("--per-client", type=int, default=4)
    parser.add_argument("--steady-warm", type=int, default=4, help="warm: N for 4 clients")
    args = parser.parse_args()
    binary = locate(None)
    if binary is None:
        sys.exit("no claude binary found")
    mock_port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    os.environ.update(
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{mock_port}", ANTHROPIC_API_KEY="bench-dummy",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )  # fmt: skip
    processes: list[subprocess.Popen] = []
    try:
        processes.append(subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "mock_upstream.py"), "--port", str(mock_port)]
        ))  # fmt: skip
        wait_http(f"http://127.0.0.1:{mock_port}/health")
        cold_gw, cold_url = start_gateway(tmp, 0)
        warm_gw, warm_url = start_gateway(tmp, args.warm)
        processes += [cold_gw, warm_gw]
        direct_cli(binary)  # the page cache holds the binary from here on
        runs: dict[str, list[float]] = {"direct": [], "cold": [], "warm": []}
        for _ in range(args.rounds):
            runs["direct"].append(direct_cli(binary)[0])
            time.sleep(args.pace)
            runs["cold"].append(through_gateway(cold_url + "/v1/messages")[0])
            time.sleep(args.pace)
            runs["warm"].append(through_gateway(warm_url + "/v1/messages")[0])
            time.sleep(args.pace)
        print(f"one request at a time, {args.pace} s apart, {args.rounds} interleaved rounds")
        print(f"  claude -p spawned directly  {ms(runs['direct'])}")
        print(f"  gateway, warm: 0            {ms(runs['cold'])}")
        print(f"  gateway, warm: {args.warm:<13}{ms(runs['warm'])}")
        ratio = statistics.median(runs["warm"]) / statistics.median(runs["direct"])
        print(f"  warm / direct: {ratio:.2f} (target: at most 0.33)")

        warm_gw.terminate()
        warm_gw.wait(15)
        warm_gw, warm_url = start_gateway(tmp, args.steady_warm)
        processes.append(warm_gw)
        wait_spares(warm_url, args.steady_warm)
        steady = {
            "cold": concurrent(cold_url + "/v1/messages", 4, args.per_client),
            "warm": concurrent(warm_url + "/v1/messages", 4, args.per_client),
        }
        print("4 clients at once, each sending its next request when the last one ends")
        print(f"  gateway, warm: 0            {ms(steady['cold'])}")
        print(f"  gateway, warm: {args.steady_warm:<13}{ms(steady['warm'])}")
        steady_ratio = statistics.median(steady["warm"]) / statistics.median(runs["direct"])
        print(f"  warm at c=4 / direct: {steady_ratio:.2f} (target: at most 0.5)")
        wait_spares(warm_url, args.steady_warm)
        paced = {
            "cold": concurrent(cold_url + "/v1/messages", 4, args.per_client, args.pace),
            "warm": concurrent(warm_url + "/v1/messages", 4, args.per_client, args.pace),
        }
        print(f"4 clients, each sending its next request {args.pace} s after its last answer")
        print(f"  gateway, warm: 0            {ms(paced['cold'])}")
        print(f"  gateway, warm: {args.steady_warm:<13}{ms(paced['warm'])}")
        paced_ratio = statistics.median(paced["warm"]) / statistics.median(runs["direct"])
        print(f"  warm at c=4, paced / direct: {paced_ratio:.2f} (target: at most 0.5)")
        for process in (cold_gw, warm_gw):
            process.terminate()
            process.wait(15)

        memory = {}
        for size in (0, 1, 2, 4):
            gateway, url = start_gateway(tmp, size)
            if size:
                wait_spares(url, size)
            time.sleep(2)  # let the spares finish booting before they are measured
            memory[size] = tree_rss_mib(gateway.pid)
            gateway.terminate()
            gateway.wait(15)
        print("resident memory, gateway and its spares, idle")
        for size, mib in memory.items():
            print(f"  warm: {size}  {mib:6.1f} MiB")
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        report = {
            "single": {k: [round(v * 1000, 1) for v in vs] for k, vs in runs.items()},
            "steady_c4": {k: [round(v * 1000, 1) for v in vs] for k, vs in steady.items()},
            "paced_c4": {k: [round(v * 1000, 1) for v in vs] for k, vs in paced.items()},
            "rss_mib": memory,
        }
        (out / f"warm-pool-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
            json.dumps(report, indent=2)
        )
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                process.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
