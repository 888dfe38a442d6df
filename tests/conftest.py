from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mock_upstream import MockUpstream
from server import ServedApp

from gateway.app import create_app
from gateway.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Gateways served by the tests keep their usage ledger in a temp dir, not beside the
    routes.yaml of the repository or of the examples (a test naming usage.path still wins)."""
    if "GATEWAY_USAGE_DB" not in os.environ:
        folder = tempfile.mkdtemp(prefix="gateway-usage-")
        config.stash[_USAGE_DIR] = folder
        os.environ["GATEWAY_USAGE_DB"] = str(Path(folder) / "usage.db")


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_USAGE_DIR, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        del os.environ["GATEWAY_USAGE_DB"]


_USAGE_DIR = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def upstream() -> Iterator[MockUpstream]:
    mock = MockUpstream().start()
    yield mock
    mock.stop()


@pytest.fixture
def mock(upstream: MockUpstream) -> MockUpstream:
    """The session's mock upstream, with a clean record and no scripted replies."""
    upstream.reset()
    return upstream


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "routes.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def serve() -> Iterator[Callable[..., ServedApp]]:
    """Serves a Config (or a prepared app) on 127.0.0.1 and stops it after the test."""
    served: list[ServedApp] = []

    def start(config: Config | Path, **kwargs) -> ServedApp:
        if isinstance(config, Path):
            config = load_config(config)
        app = create_app(config, **kwargs)
        # Sanic's touch-up rewrites class methods once per process; a second app would fail.
        app.config.TOUCHUP = False
        server = ServedApp(app).start()
        served.append(server)
        return server

    yield start
    for server in served:
        server.stop()


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the tests may reach a real account."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "GATEWAY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CLAUDECODE", raising=False)


class RunDirs:
    """The run directories of the claude sinks a test serves, all kept under its tmp_path."""

    def __init__(self, base: Path) -> None:
        self.parent = base / f"claude-gateway-{os.getuid()}"

    def count(self) -> int:
        return len(list(self.parent.glob("gateway-*/run-*")))

    def wait_for(self, expected: int, timeout: float = 10.0) -> int:
        """Waits until ``expected`` are left; returns the count at the deadline otherwise."""
        deadline = time.monotonic() + timeout
        while (found := self.count()) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def areas(self) -> list[str]:
        """What is left in the sinks' shared directory: areas and their lock files."""
        return sorted(p.name for p in self.parent.iterdir()) if self.parent.exists() else []


@pytest.fixture
def run_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunDirs:
    """Claude sinks started in this test keep their runs under tmp_path, to be counted."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return RunDirs(tmp_path)


_FUZZ_TALLY = pytest.StashKey[Counter]()


@pytest.fixture(scope="session")
def fuzz_tally(pytestconfig: pytest.Config) -> Counter:
    """What the fuzz target tried (tests/test_fuzz_http.py), reported at the end of the run."""
    return pytestconfig.stash.setdefault(_FUZZ_TALLY, Counter())


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker of pytest-xdist hands its fuzz tally to the controller, which reports it."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fuzz_tally"] = dict(session.config.stash.get(_FUZZ_TALLY, Counter()))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    tally = getattr(node, "workeroutput", {}).get("fuzz_tally")
    if tally:
        node.config.stash.setdefault(_FUZZ_TALLY, Counter()).update(tally)  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    tally = config.stash.get(_FUZZ_TALLY, None)
    if not tally:
        return
    statuses = ", ".join(
        f"{key[7:]}: {n}" for key, n in sorted(tally.items()) if key.startswith("status ")
    )
    terminalreporter.write_line(
        f"fuzz: {tally['cases']} cases tried on {tally['routes']} POST routes, "
        f"failures: {tally['failures']} (answers by status: {statuses})"
    )
