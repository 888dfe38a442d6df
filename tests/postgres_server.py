"""A throwaway PostgreSQL server for the tests: initdb in a temp dir, postgres on 127.0.0.1 on
a free port (its socket in the same dir), ended by its PID.

The binaries come from Debian's ``postgresql`` package (.ci/system_packages.txt). postgres
refuses to run as root, so as root it runs as ``nobody``, in a directory that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
_USER = "nobody"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._as: dict[str, object] = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam(_USER)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self._as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    @property
    def url(self) -> str:
        return f"postgresql://gateway@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 30) -> PostgresServer:
        data = self.dir / "data"
        subprocess.run(
            [BIN / "initdb", "-D", data, "-U", "gateway", "--auth=trust", "-E", "UTF8",
             "--no-sync", "--no-instructions"],
            check=True, capture_output=True, **self._as,
        )  # fmt: skip
        self.port = _free_port()
        return self._launch(timeout)

    def pause(self) -> None:
        """Stops the server, keeping its data and port for :meth:`resume`."""
        self._halt()

    def resume(self, timeout: float = 30) -> PostgresServer:
        """Starts the paused server again, on the same port with the same data."""
        return self._launch(timeout)

    def _launch(self, timeout: float) -> PostgresServer:
        data = self.dir / "data"
        log = open(self.dir / "postgres.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [BIN / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(self.port),
             "-k", self.dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT, **self._as,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log()}")
            if self._accepts():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"postgres did not accept connections within {timeout} s: {self.log()}")

    def _accepts(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def log(self) -> str:
        path = self.dir / "postgres.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        self._halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _halt(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: ends the sessions
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
