"""Time to first token and total time through the CLI and SDK sinks, against the mock upstream.

Compares, median of N runs each (default 10), against a mock Anthropic upstream on 127.0.0.1:

- the same `claude -p` command the CLI sink runs, spawned directly (the floor);
- the gateway's CLI sink (`/v1/messages`, streaming);
- the Python SDK (claude-agent-sdk) called directly with the options the SDK sink uses;
- the gateway's SDK sink (`/sdk/v1/messages`, streaming);

and the gateway's resident memory (VmRSS) before any request, without CLI children.

    .venv/bin/python bench/claude_latency.py [--runs 10]

Time to first token is measured to the first text delta: a `stream_event` line with a
`text_delta` from the CLI or SDK, a `content_block_delta` SSE event from the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway import ir  # noqa: E402
from gateway.sinks.claude.binary import locate  # noqa: E402
from gateway.sinks.claude.cli import cli_argv  # noqa: E402
from gateway.sinks.claude.run_plan import plan_run  # noqa: E402
from gateway.sinks.claude.settings import ClaudeSettings  # noqa: E402

ROUTES = """
version: 1
sinks:
  claude: {kind: cli, max_concurrency: 1}
  claude-sdk: {kind: sdk, max_concurrency: 1}
models:
  - name: sonnet
routes:
  - {path: /v1/messages, dialect: anthropic.messages}
mounts:
  - {prefix: /sdk, sink: claude-sdk}
access_log: {enabled: false}
"""
PROMPT = "hello from the latency benchmark"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def request() -> ir.Request:
    return ir.Request(
        model="sonnet", messages=[ir.Message("user", [ir.Text(PROMPT)])], max_tokens=64
    )


def direct_cli(binary: str) -> tuple[float, float]:
    """The CLI sink's exact command, spawned here: (first token, total) in seconds."""
    workdir = tempfile.mkdtemp(prefix="bench-cli-")
    try:
        plan = plan_run(request(), ClaudeSettings(), workdir=workdir)
        for path, content in plan.files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(content)
        os.makedirs(plan.env["CLAUDE_CODE_TMPDIR"], exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "CLAUDECODE"} | plan.env
        started = time.perf_counter()
        process = subprocess.Popen(
            cli_argv(binary, plan), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, cwd=plan.cwd,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"".join(line.data for line in plan.stdin))
        process.stdin.close()
        first = None
        for raw in process.stdout:
            if first is None and b'"text_delta"' in raw and b'"stream_event"' in raw:
                first = time.perf_counter() - started
            if raw.startswith(b'{"type":"result"') or b'"type":"result"' in raw[:200]:
                break
        total = time.perf_counter() - started
        process.wait(30)
        return first or total, total
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def direct_sdk(binary: str) -> tuple[float, float]:
    """claude-agent-sdk with the SDK sink's options: (first token, total) in seconds."""
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient

    workdir = tempfile.mkdtemp(prefix="bench-sdk-")
    try:
        plan = plan_run(request(), ClaudeSettings(), workdir=workdir)
        for path, content in plan.files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(content)
        os.makedirs(plan.env["CLAUDE_CODE_TMPDIR"], exist_ok=True)
        options = ClaudeAgentOptions(
            cli_path=binary, cwd=plan.cwd, model=plan.model, max_turns=1, tools=[],
            system_prompt={"type": "file", "path": plan.system_prompt_file},
            include_partial_messages=True, env=plan.env, extra_args=dict(plan.flags),
        )  # fmt: skip
        started = time.perf_counter()
        first = None
        client = ClaudeSDKClient(options=options)
        await client.connect()

        async def turns():
            for line in plan.stdin:
                yield dict(line.message)

        sender = asyncio.create_task(client.query(turns()))
        async for message in client.receive_messages():
            name = type(message).__name__
            if (
                first is None
                and name == "StreamEvent"
                and message.event.get("delta", {}).get("type") == "text_delta"
            ):
                first = time.perf_counter() - started
            if name == "ResultMessage":
                break
        total = time.perf_counter() - started
        await sender
        await client.disconnect()
        return first or total, total
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# One client for every request: a new httpx client per request costs ~50 ms (its TLS context)
# before anything is sent, which would be charged to the gateway.
CLIENT = httpx.Client(timeout=60)


def through_gateway(url: str) -> tuple[float, float]:
    body = {
        "model": "sonnet",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    started = time.perf_counter()
    first = None
    with CLIENT.stream("POST", url, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if first is None and line.startswith("event: content_block_delta"):
                first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summarize(name: str, samples: list[tuple[float, float]]) -> dict[str, float]:
    ttft = statistics.median(s[0] for s in samples) * 1000
    total = statistics.median(s[1] for s in samples) * 1000
    print(
        f"{name:<34} first token p50 {ttft:7.1f} ms   total p50 {total:7.1f} ms   (n={len(samples)})"
    )
    return {"ttft_p50_ms": round(ttft, 1), "total_p50_ms": round(total, 1), "runs": len(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    binary = locate(None)
    if binary is None:
        sys.exit("no claude binary found")
    mock_port, gateway_port = free_port(), free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    (tmp / "routes.yaml").write_text(ROUTES)
    os.environ.update(
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{mock_port}", ANTHROPIC_API_KEY="bench-dummy",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )  # fmt: skip
    processes = []
    try:
        processes.append(
            subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "mock_upstream.py"), "--port", str(mock_port)]
            )
        )
        wait_http(f"http://127.0.0.1:{mock_port}/health")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(tmp / "routes.yaml"), "--port", str(gateway_port), "--no-reload"],
            env={**os.environ, "LOG_LEVEL": "WARNING"}, cwd=tmp,
        ))  # fmt: skip
        base = f"http://127.0.0.1:{gateway_port}"
        wait_http(base + "/health")
        time.sleep(1.0)
        idle_rss = rss_mib(processes[-1].pid)
        print(
            f"claude {subprocess.run([binary, '--version'], capture_output=True, text=True).stdout.strip()}; {args.runs} runs each, interleaved\n"
        )
        runs: dict[str, list[tuple[float, float]]] = {
            k: [] for k in ("cli_direct", "cli_gateway", "sdk_direct", "sdk_gateway")
        }
        direct_cli(binary)  # warm the page cache for the 380 MB binary
        for _ in range(args.runs):
            runs["cli_direct"].append(direct_cli(binary))
            runs["cli_gateway"].append(through_gateway(base + "/v1/messages"))
            runs["sdk_direct"].append(asyncio.run(direct_sdk(binary)))
            runs["sdk_gateway"].append(through_gateway(base + "/sdk/v1/messages"))
        results = {
            "claude -p, spawned directly": summarize(
                "claude -p, spawned directly", runs["cli_direct"]
            ),
            "gateway, CLI sink": summarize("gateway, CLI sink", runs["cli_gateway"]),
            "claude-agent-sdk, called directly": summarize(
                "claude-agent-sdk, called directly", runs["sdk_direct"]
            ),
            "gateway, SDK sink": summarize("gateway, SDK sink", runs["sdk_gateway"]),
        }
        cli_gap = (
            results["gateway, CLI sink"]["ttft_p50_ms"]
            - results["claude -p, spawned directly"]["ttft_p50_ms"]
        )
        sdk_gap = (
            results["gateway, SDK sink"]["ttft_p50_ms"]
            - results["claude-agent-sdk, called directly"]["ttft_p50_ms"]
        )
        print(f"\nCLI sink first token vs direct: {cli_gap:+.1f} ms (target: within 30 ms)")
        print(f"SDK sink first token vs SDK direct: {sdk_gap:+.1f} ms")
        print(
            f"gateway resident memory before any request: {idle_rss:.1f} MiB (target: under 80 MiB)"
        )
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        report = {
            "results": results,
            "cli_gap_ms": round(cli_gap, 1),
            "sdk_gap_ms": round(sdk_gap, 1),
            "idle_rss_mib": round(idle_rss, 1),
        }
        (out / f"claude-latency-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
            json.dumps(report, indent=2)
        )
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
