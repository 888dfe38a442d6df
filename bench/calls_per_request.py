"""Python calls a request costs, against another checkout: ``python bench/calls_per_request.py
--reference TREE [--top 25]``.

Throughput on a shared 2-core machine moves by +-5% between two runs of one tree, more than a
target such as "routing costs under 2%" can be told apart with. The number of Python calls the
gateway makes for a request does not move: the gateway of each checkout is served in a process
of its own (its own ``tests/server.py``, in a thread), a keep-alive client sends it
``--requests`` passthrough and translating JSON requests after a warm-up, and cProfile, enabled
on the serving thread only, counts every call. Printed: calls a request for each checkout and
path, then the functions whose counts differ most. A call is not a fixed cost (a builtin is tens
of nanoseconds, a Python function with a body a microsecond or more under the profiler), so this
says where added work lies, and bench/routing.py says what it costs in req/s.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import pstats
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = {
    "passthrough": ("/v1/messages", {"x-api-key": "bench-token"}),
    "translating": ("/v1/chat/completions", {"authorization": "Bearer bench-token"}),
}
CONFIG = """\
version: 1
sinks:
  up: {{kind: http, base_url: "{upstream}", dialect: anthropic.messages}}
models:
  - {{name: opus, target: claude-opus-5-5}}
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
  - {{path: /v1/chat/completions, dialect: openai.chat}}
auth: {{token: bench-token}}
access_log: {{path: "{folder}/access.log"}}
usage: {{path: "{folder}/usage.db"}}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="a checkout to compare with")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=25, help="functions to list by difference")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's side
    parser.add_argument("--path", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        _measure(args.measure, args.path, args.requests, args.out)
        return 0
    trees = {"reference": args.reference.resolve(), "this": ROOT}
    with tempfile.TemporaryDirectory() as folder:
        for path in PATHS:
            counts = {}
            for name, tree in trees.items():
                out = Path(folder) / f"{name}-{path}.pstats"
                subprocess.run(
                    [sys.executable, __file__, "--reference", str(tree), "--measure", str(tree),
                     "--path", path, "--requests", str(args.requests), "--out", str(out)],
                    check=True, cwd=tree,
                )  # fmt: skip
                counts[name] = _calls(out)
            per = {name: sum(c.values()) / args.requests for name, c in counts.items()}
            change = per["this"] / per["reference"] - 1
            print(f"\n{path}: {per['reference']:.0f} calls a request in {args.reference}, "
                  f"{per['this']:.0f} here ({change:+.1%})")  # fmt: skip
            ref, this = counts["reference"], counts["this"]
            by_change = sorted(set(ref) | set(this), key=lambda f: -abs(this[f] - ref[f]))
            for function in by_change[: args.top]:
                if this[function] != ref[function]:
                    delta = (this[function] - ref[function]) / args.requests
                    print(f"  {delta:+6.2f}  {function}")
    return 0


def _calls(stats_file: Path) -> Counter[str]:
    """Calls by function, named by file within its package (checkouts' paths differ)."""
    calls: Counter[str] = Counter()
    for (file, _line, function), row in pstats.Stats(str(stats_file)).stats.items():  # type: ignore[attr-defined]
        short = file.split("site-packages/")[-1].split("/gateway/")[-1]
        calls[f"{short}:{function}"] += row[1]
    return calls


def _measure(tree: Path, path: str, requests: int, out: Path) -> None:
    """In the child: serve ``tree``'s gateway, send the requests, write the serving thread's
    profile to ``out``."""
    sys.path[:0] = [str(tree), str(tree / "tests")]
    from mock_upstream import MockUpstream
    from server import ServedApp

    from gateway.app import create_app
    from gateway.config import load_config

    os.environ["LOG_LEVEL"] = "WARNING"
    upstream = MockUpstream().start()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "routes.yaml"
        config.write_text(CONFIG.format(upstream=upstream.base_url, folder=folder))
        served = ServedApp(create_app(load_config(config))).start()
        route, auth = PATHS[path]
        body = json.dumps({"model": "opus", "max_tokens": 16,
                           "messages": [{"role": "user", "content": "hello"}]})  # fmt: skip
        headers = {"content-type": "application/json", **auth}
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)

        def ask() -> None:
            connection.request("POST", route, body, headers)
            answer = connection.getresponse()
            text = answer.read()
            if answer.status != 200:
                raise SystemExit(f"{tree}: {route} answered {answer.status}: {text[:300]!r}")

        for _ in range(max(100, requests // 2)):  # caches, pools and lazy imports settle
            ask()
        profile = cProfile.Profile()
        _on_serving_thread(served, profile.enable)
        for _ in range(requests):
            ask()
        _on_serving_thread(served, profile.disable)
        profile.dump_stats(str(out))
        connection.close()
        served.stop()
    upstream.stop()


def _on_serving_thread(served: object, action: object) -> None:
    """Runs ``action`` on the thread that serves (cProfile profiles the thread it is enabled on)
    and waits for it."""
    done = threading.Event()

    def run() -> None:
        action()  # type: ignore[operator]
        done.set()

    served._loop.call_soon_threadsafe(run)  # type: ignore[attr-defined]
    if not done.wait(30):
        raise SystemExit("the serving thread did not answer within 30 s")


if __name__ == "__main__":
    sys.exit(main())
