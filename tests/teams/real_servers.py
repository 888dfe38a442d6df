"""A real redis-server and real `gateway serve` processes on 127.0.0.1, each ended by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from waiting import wait_until

WORKTREE = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """``redis-server`` from Debian (.ci/system_packages.txt), no persistence, in a temp dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._pong, "redis-server to answer PING", 15)
        return self

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


class GatewayProcess:
    """``gateway serve`` of this work tree as a child process (``--workers N`` if asked)."""

    def __init__(self, config: Path, workers: int = 1) -> None:
        self.config = config
        self.workers = workers
        self.port = free_port()
        self.log = config.with_suffix(f".{self.port}.log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayProcess:
        env = {**os.environ, "PYTHONPATH": str(WORKTREE), "LOG_LEVEL": "INFO"}
        argv = [sys.executable, "-m", "gateway", "serve", "--config", str(self.config),
                "--port", str(self.port), "--no-reload", "--workers", str(self.workers)]  # fmt: skip
        with open(self.log, "wb") as out:
            # Its own session: the workers are ended with it, by the group of this one PID.
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        return self

    def wait_ready(self) -> GatewayProcess:
        def healthy() -> bool:
            assert self.process is not None and self.process.poll() is None, self.output()
            try:
                return httpx.get(self.url + "/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, f"gateway on port {self.port}", 60)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None
