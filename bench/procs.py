"""Starting, watching and stopping the servers of a benchmark, all on 127.0.0.1.

Every process is started by :class:`Servers` and stopped by its PID (SIGTERM, then SIGKILL),
also when the benchmark fails or is interrupted: use it as a context manager.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
_TICKS = os.sysconf("SC_CLK_TCK")


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that ``with Servers(...)`` still stops them all."""


def stop_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise Terminated(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class Servers:
    """The processes of one benchmark run; ``with Servers(logdir) as s: s.start(...)``."""

    def __init__(self, logdir: Path, pins: dict[str, str] | None = None) -> None:
        self.logdir = logdir
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        #: Role ("subject": the gateway or floor app; "upstream": the mock and the load
        #: generator) -> the CPUs it runs on; empty: no pinning.
        self.pins = pins or {}

    def __enter__(self) -> Servers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        command: list[str],
        port: int,
        env: dict[str, str] | None = None,
        probe: str | None = None,
        role: str = "subject",
        cwd: Path = ROOT,
    ) -> subprocess.Popen[bytes]:
        """Starts ``command`` in ``cwd`` and waits until ``port`` accepts (and ``probe``
        answers, if set)."""
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 (owned by the process)
        process = subprocess.Popen(
            pinned(command, self.pins.get(role)),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        self.running[name] = process
        try:
            _wait_ready(process, port, probe)
        except BaseException:
            self.stop(name)
            raise
        return process

    def pid(self, name: str) -> int:
        return self.running[name].pid

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def stop_all(self) -> None:
        for name in list(self.running)[::-1]:
            self.stop(name)

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each running server."""
        return {name: cpu_seconds(p.pid) for name, p in self.running.items() if p.poll() is None}


def print_server_logs(logdir: Path) -> None:
    """The last lines of every server's log (not the access logs), for a run that failed."""
    for log in sorted(logdir.glob("*.log")):
        if log.name.endswith("-access.log"):
            continue
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print(f"--- {log.name} (last lines)", *tail, sep="\n", file=sys.stderr)


def _wait_ready(process: subprocess.Popen[bytes], port: int, probe: str | None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                pass
            if probe is None or _answers(f"http://{HOST}:{port}{probe}"):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.args!r} did not listen on port {port} within 30 s")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except OSError:
        return False


def python() -> str:
    return sys.executable


def gateway_command() -> list[str]:
    """The gateway of this checkout: servers run in ROOT, and ``-c`` puts it first on sys.path
    (the ``gateway`` console script would import whichever checkout was installed)."""
    return [
        sys.executable,
        "-c",
        "import sys; from gateway.commands.main import main; sys.exit(main())",
    ]


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """``command`` run on the CPUs ``cpus`` (taskset's list, "0" or "0,1"), or anywhere."""
    return ["taskset", "-c", cpus, *command] if cpus else command
