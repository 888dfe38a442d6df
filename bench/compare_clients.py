"""The measurement behind the HTTP sink's client: ``python bench/compare_clients.py [-d 3]``.

The same minimal Sanic forwarding app (bench/floor_app.py) built with
  (i)   aiohttp ClientSession
  (ii)  httpx.AsyncClient with its default pool (100 connections, 20 kept alive)
  (iii) httpx.AsyncClient with max_connections=1000, max_keepalive_connections=1000
measured for req/s at c=32 with JSON answers, and for streams/s at c=64 against the slow-stream
mock (an event every 5 ms, ~260 ms per stream). The mock alone is measured too, as the ceiling.
Prints a table and a short conclusion; the numbers go to bench/results/clients-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from floor_app import CLIENTS
from measure import Measured, Meter
from procs import BENCH, Servers, stop_on_sigterm
from setups import SLOW_CHUNKS, SLOW_DELAY, SLOW_TEXT, direct_target, start_floor, start_mock

JSON_CONCURRENCY = 32
STREAM_CONCURRENCY = 64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-d", "--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--retries", type=int, default=2, help="re-measure on a busy machine")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds retries may add")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="bench-clients-") as tmp:
        try:
            with Servers(Path(tmp)) as servers:
                rows = _measure_all(servers, args)
        except KeyboardInterrupt:
            print("\ninterrupted: every server was stopped", file=sys.stderr)
            return 130
    _print(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"clients-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps([_row_json(r) for r in rows], indent=2) + "\n")
    print(f"\nresults: {path}")
    return 0


def _measure_all(servers: Servers, args: argparse.Namespace) -> list[dict[str, Any]]:
    meter = Meter(servers, "auto", args.retries, args.budget)
    fast = start_mock(servers, "mock")
    slow = start_mock(servers, "slow-mock", delay=SLOW_DELAY, chunks=SLOW_CHUNKS)
    rows = [_pair(meter, "mock directly", ("mock", "slow-mock"), (fast, slow), args)]
    for client in CLIENTS:
        print(f"  measuring {client} ...", file=sys.stderr, flush=True)
        json_port = start_floor(servers, client, fast, client)
        stream_port = start_floor(servers, f"{client}-slow", slow, client)
        names = (client, f"{client}-slow")
        rows.append(_pair(meter, client, names, (json_port, stream_port), args))
        servers.stop(client)
        servers.stop(f"{client}-slow")
    return rows


def _pair(
    meter: Meter, label: str, names: tuple[str, str], ports: tuple[int, int], ns: Any
) -> dict[str, Any]:
    """req/s with JSON at c=32 on ``ports[0]``, then slow streams/s at c=64 on ``ports[1]``."""
    json_target = direct_target(ports[0], False)
    stream_target = direct_target(ports[1], True, SLOW_TEXT)
    meter.warm(json_target, JSON_CONCURRENCY, ns.warmup)
    json_run = meter.run(json_target, JSON_CONCURRENCY, ns.duration)
    meter.warm(stream_target, STREAM_CONCURRENCY, ns.warmup)
    stream_run = meter.run(stream_target, STREAM_CONCURRENCY, ns.duration)
    return {"label": label, "servers": names, "json": json_run, "stream": stream_run}


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.to_json() if isinstance(v, Measured) else v) for k, v in row.items()}


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'client':14} {'json req/s c=32':>15} {'p50 ms':>7} {'p99 ms':>7} {'errs':>5} "
        f"{'cpu':>5} {'other':>5} | {'streams/s c=64':>14} {'p50 ms':>7} {'p99 ms':>7} {'errs':>5} "
        f"{'cpu':>5} {'other':>5}"
    )
    for row in rows:
        cells = []
        for kind, server in zip(("json", "stream"), row["servers"], strict=True):
            measured: Measured = row[kind]
            res = measured.result
            cpu = measured.cores.get(server, 0.0)
            width = 15 if kind == "json" else 14
            cells.append(
                f"{res.rps:>{width}.0f} {res.latency_ms['p50']:>7.1f} {res.latency_ms['p99']:>7.1f} "
                f"{res.error_count:>5} {cpu:>5.2f} {measured.other:>5.2f}"
            )
        print(f"{row['label']:14} {cells[0]} | {cells[1]}")
    print("(cpu: cores used by that server; other: cores used by other programs meanwhile)")
    print("\n" + _conclusion(rows))


def _conclusion(rows: list[dict[str, Any]]) -> str:
    by = {r["label"]: r for r in rows}
    if any(m.result.error_count for r in rows for m in (r["json"], r["stream"])):
        return "Some runs had errors (see errs): those numbers are not valid measurements."
    base_json = by["aiohttp"]["json"].result.rps
    base_stream = by["aiohttp"]["stream"].result.rps
    lines = ["Conclusion (relative to aiohttp):"]
    for client in CLIENTS[1:]:
        j = by[client]["json"].result.rps / base_json if base_json else 0.0
        s = by[client]["stream"].result.rps / base_stream if base_stream else 0.0
        lines.append(f"  {client:10} JSON req/s {j:.0%}, streams/s {s:.0%}")
    best_json = max(CLIENTS, key=lambda c: by[c]["json"].result.rps)
    best_stream = max(CLIENTS, key=lambda c: by[c]["stream"].result.rps)
    lines.append(f"  fastest for JSON: {best_json}; for slow streams: {best_stream}.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
