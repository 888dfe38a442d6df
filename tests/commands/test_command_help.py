"""The `gateway` command as a newcomer meets it: bare, -V, each command's help, completion."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from gateway import __version__
from gateway.commands.main import main


def test_bare_gateway_shows_help_and_v_the_version(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gateway [-h] [-V] COMMAND ...")
    for command in ("serve", "check", "service", "completion"):
        assert f"\n    {command} " in out
    version = subprocess.run(
        [sys.executable, "-m", "gateway", "-V"], capture_output=True, text=True, timeout=60
    )
    assert (version.returncode, version.stdout) == (0, f"gateway {__version__}\n")


# `gateway claude ARGS` hands every argument to claude: its --help is claude's own.
COMMANDS = ["serve", "check", "routes", "token", "try", "usage", "init", "service", "completion"]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_a_sentence_and_an_example(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert description[0].isupper() and description.endswith("."), description
    examples = out.split("\nexamples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith("  ") for line in examples), examples
    assert any(f"gateway {command}" in line for line in examples), examples


def completions(script: str, line: str) -> list[str]:
    """What bash offers for ``line`` (the word being typed last) with ``script`` loaded."""
    words = line.split(" ")
    program = (
        f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); "
        f"COMP_CWORD={len(words) - 1}; _gateway_completion; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_options_and_choices(capsys):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert completions(script, "gateway se") == ["serve", "service"]
    assert completions(script, "gateway serve --no") == ["--no-reload"]
    assert completions(script, "gateway completion ") == ["-h", "--help", "bash", "zsh", "fish"]
    assert "--user" in completions(script, "gateway service install --")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command(shell, capsys):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for command in (*COMMANDS, "claude"):
        assert f"{command}:" in script if shell == "zsh" else f"-a {command} " in script
    assert "no-reload" in script
    if shutil.which(shell):  # CI has bash only; a machine with the shell also parses the script
        checked = subprocess.run(
            [shell, "-n"], input=script, capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr
