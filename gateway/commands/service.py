"""``gateway service install [--user]``: a systemd unit that runs ``gateway serve`` for good.

The unit runs the very ``gateway`` executable that wrote it (the venv or pipx install it came
from), on an absolute routes file, as the user whose ``claude`` login it should use (a system
unit names that user: the login lives in their ~/.claude). Secrets stay out of the unit: it
reads an optional environment file (``gateway.env`` beside routes.yaml). SIGHUP reloads
routes.yaml, so ``systemctl reload`` works; a crash is restarted.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from pathlib import Path

from ..config.starter import find_config

__all__ = ["add_arguments", "install", "unit_text"]

DEFAULT_NAME = "claude-gateway"


def add_arguments(parser: argparse.ArgumentParser, config_help: str) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="install")
    install = actions.add_parser(
        "install",
        help="write the systemd unit and print how to enable it",
        description="Write a systemd unit that runs `gateway serve` and print how to enable "
        "it. Without --user it is a system unit (written as root) that runs as the user who "
        "invoked it.",
    )
    install.add_argument(
        "--user",
        action="store_true",
        help="a unit of your own systemd user instance (~/.config/systemd/user), no root needed",
    )
    install.add_argument("--config", default=None, help=config_help)
    install.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    install.add_argument("--port", type=int, default=None, help="port (default 8000)")
    install.add_argument(
        "--name", default=DEFAULT_NAME, help=f"the unit's name (default {DEFAULT_NAME})"
    )
    install.add_argument(
        "--run-as", default=None, help="user of a system unit (default: the one who ran sudo)"
    )
    install.add_argument(
        "--stdout", action="store_true", help="print the unit instead of writing it"
    )
    install.add_argument("--force", action="store_true", help="replace an existing unit")


def _executable() -> str:
    """The ``gateway`` script of this installation (a unit needs an absolute path)."""
    beside = Path(sys.executable).parent / "gateway"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return str(Path(sys.argv[0]).resolve())


def unit_text(
    *,
    executable: str,
    config: Path,
    user: str | None,
    host: str | None,
    port: int | None,
) -> str:
    serve = [executable, "serve", "--config", str(config)]
    if host:
        serve += ["--host", host]
    if port is not None:
        serve += ["--port", str(port)]
    run_as = f"User={user}\n" if user else ""
    wanted_by = "default.target" if user is None else "multi-user.target"
    environment_file = config.parent / "gateway.env"
    return (
        "[Unit]\n"
        "Description=claude-gateway: Claude through the OpenAI and Anthropic APIs\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=exec\n"
        f"{run_as}"
        f"WorkingDirectory={_systemd_path(config.parent)}\n"
        f"EnvironmentFile=-{_systemd_path(environment_file)}\n"
        f"ExecStart={' '.join(_systemd_word(word) for word in serve)}\n"
        "ExecReload=/bin/kill -HUP $MAINPID\n"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        "KillMode=mixed\n"
        "TimeoutStopSec=60\n"
        "\n"
        "[Install]\n"
        f"WantedBy={wanted_by}\n"
    )


def _systemd_word(word: str) -> str:
    """One word of ExecStart, quoted when it must be (systemd's quoting is close to a shell's,
    and % starts one of its specifiers)."""
    word = word.replace("%", "%%")
    if any(c.isspace() or c in "\"'\\;$" for c in word):
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$") + '"'
    return word


def _systemd_path(path: Path) -> str:
    return str(path).replace("%", "%%").replace(" ", "\\x20")


def _unit_dir(user: bool) -> Path:
    if not user:
        return Path("/etc/systemd/system")
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "systemd" / "user"


def install(args: argparse.Namespace) -> int:
    config = find_config(args.config).resolve()
    run_as = None
    if not args.user:
        run_as = args.run_as or os.environ.get("SUDO_USER") or getpass.getuser()
    text = unit_text(
        executable=_executable(), config=config, user=run_as, host=args.host, port=args.port
    )
    if args.stdout:
        print(text, end="")
        return 0
    unit = _unit_dir(args.user) / f"{args.name}.service"
    if unit.exists() and not args.force:
        print(f"{unit} exists; --force replaces it (or --name picks another).", file=sys.stderr)
        return 1
    try:
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(text, encoding="utf-8")
    except PermissionError:
        print(
            f"Cannot write {unit}: a system unit needs root (sudo {shlex.join(sys.argv)}), "
            "or use --user for a unit of your own.",
            file=sys.stderr,
        )
        return 1
    systemctl = "systemctl --user" if args.user else "sudo systemctl"
    journal = "journalctl --user" if args.user else "journalctl"
    print(f"Wrote {unit}: it serves {config}.")
    print(f"Secrets (GATEWAY_TOKEN, ANTHROPIC_API_KEY, ...) go in {config.parent / 'gateway.env'}.")
    print("Enable and start it:")
    print(f"  {systemctl} daemon-reload && {systemctl} enable --now {args.name}")
    if args.user:
        print("Keep it running while you are logged out:")
        print(f"  loginctl enable-linger {getpass.getuser()}")
    print(
        f"Logs: {journal} -u {args.name} -f    Reload routes.yaml: {systemctl} reload {args.name}"
    )
    return 0
