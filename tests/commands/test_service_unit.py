"""`gateway service install`: a systemd unit that systemd itself accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from paths import REPO

from gateway.commands.main import main


def verify(unit: Path) -> None:
    """systemd-analyze accepts the unit without a warning (an unknown key or a bad value is
    only a warning to systemd, and would be ignored when the service starts)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: .ci/system_packages installs it (systemd)")
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


def test_a_user_unit_is_written_and_verified(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    config = tmp_path / "my gateway" / "routes.yaml"  # a space, quoted in the unit
    assert main(["init", str(config.parent)]) == 0
    argv = ["service", "install", "--user", "--config", str(config), "--port", "8123"]
    assert main(argv) == 0
    unit = tmp_path / "xdg" / "systemd" / "user" / "claude-gateway.service"
    out = capsys.readouterr().out
    assert f"Wrote {unit}" in out
    assert "systemctl --user daemon-reload && systemctl --user enable --now claude-gateway" in out
    text = unit.read_text()
    assert f'serve --config "{config}" --port 8123\n' in text
    assert "User=" not in text and "WantedBy=default.target" in text
    verify(unit)
    # The executable it names is this installation's, and serves the file given.
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    executable = exec_start.removeprefix("ExecStart=").split(" ")[0]
    checked = subprocess.run(
        [executable, "check", str(config)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    # Never overwritten by accident.
    assert main(argv) == 1
    assert "--force" in capsys.readouterr().err


def test_a_system_unit_runs_as_the_invoking_user(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SUDO_USER", "alice")
    assert main(["service", "install", "--stdout", "--config", str(REPO / "routes.yaml")]) == 0
    unit = tmp_path / "claude-gateway.service"
    unit.write_text(capsys.readouterr().out)
    text = unit.read_text()
    assert "User=alice\n" in text and "WantedBy=multi-user.target" in text
    assert f"WorkingDirectory={REPO}\n" in text
    verify(unit.parent / unit.name)
