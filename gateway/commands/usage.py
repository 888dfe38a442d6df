"""``gateway usage``: the ledger's totals by day, model, key and route for a period, as tables
or as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, time, timedelta
from typing import Any

from ..config import load_config
from ..ledger.opening import open_store
from ..ledger.report import DEFAULT_TABLES, DIMENSIONS, Totals, subscriptions, summary
from ..ledger.settings import LedgerSettings
from ..ledger.sqlite_store import LedgerMissing

__all__ = ["add_arguments", "run"]

_COLUMNS = (
    ("REQUESTS", "requests"),
    ("INPUT", "input_tokens"),
    ("OUTPUT", "output_tokens"),
    ("CACHE READ", "cache_read_tokens"),
    ("CACHE WRITE", "cache_creation_tokens"),
    ("TOTAL TOKENS", "total_tokens"),
    ("ERRORS", "errors"),
)


def add_arguments(parser: argparse.ArgumentParser, config_help: str) -> None:
    parser.add_argument("--config", default=None, help=config_help)
    period = parser.add_mutually_exclusive_group()
    period.add_argument("--days", type=int, default=None,
                        help="the last N days, today included (default: 30)")  # fmt: skip
    period.add_argument("--since", type=_moment, default=None,
                        help="first day (YYYY-MM-DD) or moment (YYYY-MM-DDTHH:MM)")  # fmt: skip
    parser.add_argument("--until", type=_moment, default=None,
                        help="last day, included (default: now)")  # fmt: skip
    parser.add_argument("--by", default=",".join(DEFAULT_TABLES),
                        help=f"tables to print, of {','.join(DIMENSIONS)} (default: "
                        f"{','.join(DEFAULT_TABLES)})")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _moment(text: str) -> tuple[datetime, bool]:
    """A local date or date-time, and whether it was a whole day."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is no date (YYYY-MM-DD)") from None
    return value, len(text) <= 10


def _period(args: argparse.Namespace) -> tuple[datetime, datetime]:
    now = datetime.now()
    until = now
    if args.until is not None:
        moment, whole_day = args.until
        until = moment + timedelta(days=1) if whole_day else moment
    if args.since is not None:
        since = args.since[0]
    else:
        days = 30 if args.days is None else args.days
        since = datetime.combine(until.date() - timedelta(days=max(days, 1) - 1), time())
    return since, until


def run(args: argparse.Namespace, config_path: str) -> int:
    by = [name.strip() for name in args.by.split(",") if name.strip()]
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown:
        print(f"--by: unknown table {', '.join(unknown)} (of {', '.join(DIMENSIONS)})",
              file=sys.stderr)  # fmt: skip
        return 2
    settings = LedgerSettings.from_config(load_config(config_path))
    since, until = _period(args)
    try:
        tables, windows = asyncio.run(_read(settings, by, since.timestamp(), until.timestamp()))
    except LedgerMissing as missing:
        print(f"{missing}. It fills as the gateway serves requests.", file=sys.stderr)
        return 1
    except Exception as exc:  # a database that cannot be reached: say which, no traceback
        print(f"cannot read the usage ledger {settings.location}: {exc}", file=sys.stderr)
        return 1
    total = _total(next(iter(tables.values())) if tables else [])
    if args.json:
        print(json.dumps({
            "ledger": settings.location,
            "since": since.isoformat(timespec="seconds"),
            "until": until.isoformat(timespec="seconds"),
            "total": total.as_dict(),
            "by": {name: [_json_row(t) for t in rows] for name, rows in tables.items()},
            "subscriptions": windows,
        }, indent=2))  # fmt: skip
        return 0
    print(f"Usage from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} ({settings.location})")
    for name, rows in tables.items():
        print()
        print(_table(name, rows, total))
    if windows:
        print()
        print(_subscriptions(windows))
    return 0


def _json_row(totals: Totals) -> dict[str, Any]:
    """A row for scripts: requests without a key name (the tables' ``(none)``) are named null."""
    return totals.as_dict() | {"name": totals.name or None}


async def _read(
    settings: LedgerSettings, by: list[str], since: float, until: float
) -> tuple[dict[str, list[Totals]], list[dict[str, Any]]]:
    store = await open_store(settings, create=False)
    try:
        tables = {name: await summary(store, name, since, until) for name in by}
        return tables, await subscriptions(store, since, until)
    finally:
        await store.close()


def _subscriptions(windows: list[dict[str, Any]]) -> str:
    """The subscription of each sink, as its last request of the period heard."""
    lines = [["SUBSCRIPTION", "STATUS", "5 HOURS", "7 DAYS", "AS OF"]]
    for row in windows:
        used = [
            f"{row[w] * 100:.0f}%" if row[w] is not None else "" for w in ("five_hour", "seven_day")
        ]
        seen = datetime.fromtimestamp(row["seen_at"]).strftime("%Y-%m-%d %H:%M")
        lines.append([row["sink"], row["status"], *used, seen])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)  # fmt: skip


def _total(rows: list[Totals]) -> Totals:
    total = Totals("TOTAL")
    for row in rows:
        for _, field in _COLUMNS[:-2]:
            if field != "total_tokens":
                setattr(total, field, getattr(total, field) + getattr(row, field))
        total.errors += row.errors
        if row.cost_usd is not None:
            total.cost_usd = (total.cost_usd or 0) + row.cost_usd
    return total


def _table(name: str, rows: list[Totals], total: Totals) -> str:
    with_cost = any(row.cost_usd is not None for row in rows)
    header = [name.upper(), *(title for title, _ in _COLUMNS)] + (["COST USD"] if with_cost else [])
    lines = [header]
    for row in [*rows, total]:
        cells = [row.name or "(none)", *(f"{getattr(row, field):,}" for _, field in _COLUMNS)]
        if with_cost:
            cells.append("" if row.cost_usd is None else f"{row.cost_usd:,.2f}")
        lines.append(cells)
    if not rows:
        return f"{name.upper()}: no requests in this period"
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)
    text = [_line(cells, widths) for cells in lines]
    return "\n".join([text[0], rule, *text[1:-1], rule, text[-1]])


def _line(cells: list[Any], widths: list[int]) -> str:
    first = cells[0].ljust(widths[0])
    return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])
