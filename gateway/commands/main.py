"""The ``gateway`` command line: every subcommand is registered in :func:`main`."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import ipaddress
import json
import logging
import os
import secrets
import shlex
import socket
import sys
from functools import partial
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Config, load_config
from ..config.load import check_config
from ..config.starter import ExistingFiles, find_config, write_starter
from ..config.yaml_source import ConfigError
from ..server.plugins import build_plugin_manager, sink_kinds
from ..server.runtime import Runtime, build_runtime
from ..teams.sharing import shared_login_warnings
from . import service as service_unit
from . import usage as usage_report
from .about import about
from .completion import SHELLS, completion_script

__all__ = ["main"]

_CONFIG_HELP = "routes file (default: ./routes.yaml, else the packaged starter config)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="Serve Claude through the OpenAI and Anthropic APIs, as routes.yaml says.",
        epilog="Start with `gateway serve`; `gateway COMMAND --help` describes each command.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"gateway {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway", **about("serve"))
    serve.add_argument("--config", default=None, help=_CONFIG_HELP)
    serve.add_argument("--host", default=None, help="address to bind ($HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port ($PORT, else 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (default 1; see docs/teams.md for what each "
        "worker holds on its own)",
    )
    serve.add_argument(
        "--no-reload",
        action="store_true",
        help="do not watch routes.yaml and the files it names for changes (SIGHUP still reloads)",
    )
    serve.add_argument(
        "--allow-unauthenticated-remote",
        action="store_true",
        help="serve a non-loopback address without auth.token: clients on other machines may "
        "use it, and your Claude account, under any host name; web pages (a foreign Origin, or "
        "a foreign Host from this machine) are still refused",
    )

    check = commands.add_parser("check", help="validate a routes file", **about("check"))
    check.add_argument("path", nargs="?", default=None, help=_CONFIG_HELP)

    routes = commands.add_parser("routes", help="print the resolved route table", **about("routes"))
    routes.add_argument("path", nargs="?", default=None, help=_CONFIG_HELP)

    token = commands.add_parser(
        "token",
        help="print a new random token for auth.token, or a named key for auth.keys",
        **about("token"),
    )
    token.add_argument(
        "--name", default=None, help="print a named client key and the entry to add to auth.keys"
    )

    claude = commands.add_parser(
        "claude",
        help="run the claude binary the gateway uses (e.g. `gateway claude auth login`)",
        **about("claude"),
    )
    claude.add_argument("args", nargs=argparse.REMAINDER)

    dry = commands.add_parser(
        "try",
        help="show what a route does with a request, without calling its sink",
        **about("try"),
    )
    dry.add_argument("route", help="the path, e.g. /v1/chat/completions or /api/chat")
    dry.add_argument("--data", required=True, help="the JSON body (or @file.json)")
    dry.add_argument("--header", action="append", default=[], help="NAME: VALUE (repeatable)")
    dry.add_argument("--config", default=None, help=_CONFIG_HELP)

    usage = commands.add_parser(
        "usage",
        help="requests and tokens by day, model, key and route, from the usage ledger",
        **about("usage"),
    )
    usage_report.add_arguments(usage, _CONFIG_HELP)

    init = commands.add_parser(
        "init",
        help="write a starter routes.yaml, transforms/, schemas/ and hooks/ to edit",
        **about("init"),
    )
    init.add_argument("dir", nargs="?", default=".", help="where to write them (default: .)")

    service = commands.add_parser(
        "service", help="run the gateway for good: a systemd unit", **about("service")
    )
    service_unit.add_arguments(service, _CONFIG_HELP)

    completion = commands.add_parser(
        "completion", help="print a completion script for bash, zsh or fish", **about("completion")
    )
    completion.add_argument("shell", choices=SHELLS)

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["claude"]:  # everything after it belongs to claude, options included
        return _claude(argv[1:])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "completion":
        print(completion_script(parser, args.shell), end="")
        return 0
    _configure_logging()
    if args.command == "init":
        return _init(Path(args.dir))
    if args.command == "service":
        return service_unit.install(args)
    if args.command in ("check", "routes"):
        args.path = str(find_config(args.path))
    if args.command in ("serve", "try", "usage"):
        args.config = str(find_config(args.config))
    if args.command == "serve":
        return _serve(args)
    if args.command == "check":
        return _check(args.path)
    if args.command == "routes":
        return _routes(args.path)
    if args.command == "try":
        return _try(args)
    if args.command == "usage":
        return _usage(args)
    if args.name is not None:
        return _named_key(args.name)
    print(secrets.token_urlsafe(32))
    return 0


def _named_key(name: str) -> int:
    from ..teams.keys import NAME_PATTERN, hash_key, new_key

    if not NAME_PATTERN.fullmatch(name):
        print(
            f"'{name}' cannot name a key: use letters, digits and _ . @ - (at most 64).",
            file=sys.stderr,
        )
        return 2
    key = new_key()
    print(key)
    print(
        f"# Give the key above to {name}; it is not stored anywhere. Add this under auth.keys\n"
        f"# in routes.yaml (or to the file auth.keys_file names):\n"
        f'- {{name: {name}, hash: "{hash_key(key)}"}}',
        file=sys.stderr,
    )
    return 0


def _configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def load_checked(path: str) -> Config:
    """Everything ``serve`` would refuse, found without serving: schema, references, plugins,
    sinks and transforms."""
    return _checked_runtime(path).config


def _checked_runtime(path: str) -> Runtime:
    """The runtime of the file, or a ConfigError with every problem of it, each once: the
    checks after the schema run on the entries it accepts (config/valid_part.py)."""
    config, problems = check_config(path)
    if config is not None:
        try:
            runtime = build_runtime(config, build_plugin_manager(config))
        except ConfigError as error:
            problems += error.problems
        else:
            if not problems:
                return runtime
    # In the order of the file (a keys file's after it), each once.
    unique = dict.fromkeys(problems)
    raise ConfigError(sorted(unique, key=lambda p: (p.file != path, p.file, p.line, p.column)))


def _report(error: ConfigError, path: str | None = None) -> int:
    """Prints every problem, then a count: ``path: N errors.`` for the commands that only read the
    file, ``N errors; nothing was served.`` for serve (no ``path``)."""
    for problem in error.problems:
        print(problem, file=sys.stderr)
    count = len(error.problems)
    errors = f"{count} error{'s' if count != 1 else ''}"
    summary = f"{errors}; nothing was served." if path is None else f"{path}: {errors}."
    print(summary, file=sys.stderr)
    return 1


def _check(path: str) -> int:
    try:
        config = load_checked(path)
    except ConfigError as error:
        return _report(error, path)
    print(
        f"{path}: OK ({len(config.routes)} routes, {len(config.mounts)} mounts, "
        f"{len(config.sinks)} sinks, {len(config.models)} model entries)"
    )
    return 0


def _routes(path: str) -> int:
    try:
        runtime = _checked_runtime(path)
    except ConfigError as error:
        return _report(error, path)
    config = runtime.config
    kinds = sink_kinds(runtime.plugins)
    names = ", ".join([name for name, _ in runtime.models.listed()] + runtime.models.patterns())
    rows = [("METHOD", "PATH", "DIALECT", "SINK", "MODELS")]
    for route in runtime.router:
        endpoint = route.endpoint
        # Only the completion endpoints call a sink; models and status name their mount's.
        sink = route.sink or (config.default_sink if endpoint.calls_sink else "")
        models = ""
        if endpoint.calls_sink:
            models = "(any)" if route.sink and _forwards_any_model(config, kinds, sink) else names
        rows.append(("|".join(endpoint.methods), route.path, endpoint.name, sink, models))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    routed = _routed_models(config)
    if routed:
        print()
        print("\n".join(routed))
    return 0


def _routed_models(config: Config) -> list[str]:
    """The model entries with several targets or rules, and where they send requests."""
    lines = []
    for rule in config.models:
        if len(rule.targets) < 2 and not rule.rules:
            continue
        name = rule.name or rule.match or (rule.regex.pattern if rule.regex else "?")
        model = rule.target or rule.name or "(the name asked for)"
        targets = ", ".join(f"{t.sink}/{t.model or model}" + (f" x{t.weight:g}" if t.weight != 1
                            else "") for t in rule.targets)  # fmt: skip
        if targets:
            lines.append(f"{name}: {rule.strategy} over {targets}")
        for routing_rule in rule.rules:
            then = f"as {routing_rule.use}" if routing_rule.use else ", ".join(
                f"{t.sink}/{t.model or model}" for t in routing_rule.targets)  # fmt: skip
            when = ", ".join(f"{k}={v}" for k, v in _set_conditions(routing_rule.when))
            lines.append(f"{name}: rule {routing_rule.name}: when {when} -> {then}")
    return lines


def _set_conditions(condition: Any) -> list[tuple[str, Any]]:
    return [(name, value) for name, value in
            ((f, getattr(condition, f)) for f in condition.__dataclass_fields__)
            if value not in (None, {}) ]  # fmt: skip


def _try(args: argparse.Namespace) -> int:
    from .try_route import dry_run, format_report

    try:
        config = load_config(args.config)
        runtime = build_runtime(config, build_plugin_manager(config))
    except ConfigError as error:
        return _report(error, args.config)
    data = args.data
    if data.startswith("@"):
        data = Path(data[1:]).read_text(encoding="utf-8")
    try:
        body = json.loads(data)
    except ValueError as exc:
        print(f"--data is not valid JSON: {exc}", file=sys.stderr)
        return 2
    headers = {}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    status, report = asyncio.run(dry_run(runtime, args.route, body, headers))
    print(format_report(report))
    return status


def _usage(args: argparse.Namespace) -> int:
    try:
        return usage_report.run(args, args.config)
    except ConfigError as error:
        return _report(error, args.config)


def _init(directory: Path) -> int:
    try:
        written = write_starter(directory)
    except ExistingFiles as refused:
        print(f"Refusing to overwrite {len(refused.paths)} existing file(s):", file=sys.stderr)
        for path in refused.paths:
            print(f"  {path}", file=sys.stderr)
        print("Nothing was written. Choose another directory or move them away.", file=sys.stderr)
        return 1
    print(f"Wrote the starter configuration to {directory.resolve()}:")
    for path in written:
        print(f"  {path.relative_to(directory)}")
    go = "" if directory.resolve() == Path.cwd() else f"cd {shlex.quote(str(directory))} && "
    print(f"Next: {go}gateway serve   (after an edit, `gateway check` validates the files)")
    return 0


def _claude(argv: list[str]) -> int:
    """Replaces this process with the claude binary the CLI sink would find."""
    from ..sinks.claude.binary import INSTALL_HINT, locate

    path = locate(None)
    if path is None:
        print(f"No `claude` binary was found. {INSTALL_HINT}", file=sys.stderr)
        return 1
    os.execv(path, [path, *argv])


def _forwards_any_model(config: Config, kinds: dict[str, type], sink: str) -> bool:
    kind = kinds.get(config.sinks[sink].kind)
    return kind is not None and getattr(kind, "forwards_unknown_models", False)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    host = args.host or os.environ.get("HOST") or "127.0.0.1"
    port = args.port if args.port is not None else int(os.environ.get("PORT") or 8000)
    if args.workers < 1:
        print("--workers must be 1 or more.", file=sys.stderr)
        return 2
    reload_interval = None if args.no_reload else 1.0
    taken = _unbindable(host, port)
    if taken:
        print(taken, file=sys.stderr)
        return 1
    try:
        # With workers, each builds its own app (Sanic names must be unique in a process).
        config = load_config(args.config) if args.workers == 1 else load_checked(args.config)
        if args.workers == 1:
            app = served_app(args.config, reload_interval, args.allow_unauthenticated_remote, True)
    except ConfigError as error:
        return _report(error)
    if (
        not config.auth_required
        and not _is_loopback(host)
        and not args.allow_unauthenticated_remote
    ):
        print(
            f"Refusing to serve {host} without a token: anyone who can reach it could use your "
            "Claude account. Set auth.token in routes.yaml (e.g. token: ${GATEWAY_TOKEN}, and "
            "`export GATEWAY_TOKEN=$(gateway token)`), or pass --allow-unauthenticated-remote.",
            file=sys.stderr,
        )
        return 2
    # Once, before any worker starts (docs/teams.md#whose-login-serves-whom).
    kinds = sink_kinds(build_plugin_manager(config))
    for warning in shared_login_warnings(config, kinds, os.environ):
        logging.getLogger("gateway").warning("%s", warning)
    if args.workers == 1:
        app.run(
            host=host, port=port, single_process=True, access_log=False, motd=False,
            register_sys_signals=False,
        )  # fmt: skip
        return 0
    from ..server.workers import serve_workers

    factory = partial(served_app, args.config, reload_interval, args.allow_unauthenticated_remote)
    return serve_workers(factory, host, port, args.workers)


def _unbindable(host: str, port: int) -> str | None:
    """Why ``gateway serve`` could not listen on host:port (a port in use, one below 1024), in
    one line, before anything is started; None when it can. (A program that takes the port in
    the moment between this check and the server's bind still ends with Sanic's traceback.)"""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"Cannot serve on {host}: {exc.strerror}. Pick another address with --host."
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Sanic binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"Port {port} on {host} is already in use (another gateway?). "
                    f"Pick another with --port {port + 1} (or PORT={port + 1})."
                )
            return f"Cannot listen on {host}:{port}: {exc.strerror}. Pick another with --port."
    return None


def served_app(
    config_path: str,
    reload_interval: float | None,
    open_to_remote: bool,
    handle_signals: bool = False,
) -> Any:
    """The app ``gateway serve`` runs; each worker process builds its own from the file (and
    Sanic's worker manager handles the signals)."""
    from ..app import create_app

    _configure_logging()  # a worker starts as a new interpreter, without main()
    config = load_config(config_path)
    app = create_app(
        config,
        plugins=build_plugin_manager(config),
        name="gateway",
        reload_interval=reload_interval,
        open_to_remote=open_to_remote,
        handle_signals=handle_signals,
    )
    app.after_server_start(_settle_heap)
    return app


def _settle_heap(app: Any) -> None:
    """What start-up built lives as long as the server: frozen out of the garbage collector's
    walks, so that a collection on the request path no longer visits ~60,000 objects of
    modules, schemas and templates. Requests allocate many short-lived objects that reference
    counting frees; collecting the youngest generation every 10,000 allocations instead of 700
    stops most of those walks (one A/B with bench/: +3% passthrough requests/s for the freeze,
    +7% with the threshold too; within a run's noise). Only ``gateway serve`` does this: an
    embedding program keeps its own collector settings."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(10_000, older, oldest)
