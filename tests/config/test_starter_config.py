"""The starter config in the package: `gateway init`, and what a command loads without a file."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from paths import REPO

from gateway.commands.main import main
from gateway.config import load_config
from gateway.config.starter import packaged_config
from gateway.server.plugins import build_plugin_manager

STARTER_PARTS = ("routes.yaml", "transforms", "schemas", "hooks")


def _files_under(directory: Path, parts: tuple[str, ...] = STARTER_PARTS) -> dict[str, bytes]:
    """Relative path -> content of the config files in ``directory``, bytecode left out."""
    found = {}
    for part in parts:
        top = directory / part
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                found[str(path.relative_to(directory))] = path.read_bytes()
    return found


def _example_hooks(directory: Path) -> list[str]:
    """The hooks the example plugin in ``directory``/hooks implements, as pluggy sees them."""
    plugins = build_plugin_manager(load_config(directory / "routes.yaml"))
    return sorted(
        caller.name
        for caller in vars(plugins.hook).values()
        for impl in caller.get_hookimpls()
        if "example_header_auth" in impl.plugin_name
    )


def test_init_writes_the_default_config_and_check_accepts_it(tmp_path, capsys):
    target = tmp_path / "mine"
    assert main(["init", str(target)]) == 0
    out = capsys.readouterr().out
    shipped = _files_under(REPO)
    assert _files_under(target) == shipped
    for name in shipped:
        assert f"  {name}\n" in out
    assert f"Next: cd {target} && gateway serve" in out

    assert main(["check", str(target / "routes.yaml")]) == 0
    assert f"{target / 'routes.yaml'}: OK (" in capsys.readouterr().out


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "routes.yaml").write_text("mine\n")
    assert main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Refusing to overwrite 1 existing file(s):" in err
    assert f"  {tmp_path / 'routes.yaml'}\n" in err
    assert "Nothing was written." in err
    assert (tmp_path / "routes.yaml").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["routes.yaml"]


def test_without_a_routes_file_commands_load_the_packaged_starter(
    tmp_path, monkeypatch, capsys, caplog
):
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="gateway.config"):
        assert main(["check"]) == 0
    starter = packaged_config()
    assert f"{starter}: OK (" in capsys.readouterr().out
    assert f"No routes.yaml in {tmp_path}: using the packaged starter config {starter}" in (
        caplog.text
    )
    assert starter.read_bytes() == (REPO / "routes.yaml").read_bytes()

    # A routes.yaml in the working directory wins.
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["routes"]) == 0
    assert "/api/chat" in capsys.readouterr().out
    (tmp_path / "routes.yaml").write_text("version: 1\n")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("routes.yaml:1:1 'sinks' is a required property\n")
    assert err.endswith("\nroutes.yaml: 2 errors.\n")


def test_the_example_hook_does_nothing_until_uncommented(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 0
    assert _example_hooks(tmp_path) == []

    example = tmp_path / "hooks" / "example_header_auth.py"
    example.write_text(re.sub(r"(?m)^# ?", "", example.read_text()))
    assert _example_hooks(tmp_path) == ["gateway_authenticate", "gateway_request_finished"]


def test_a_copy_of_an_ir_schema_beside_routes_yaml_takes_precedence(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 0
    (tmp_path / "schemas" / "ir.request.schema.json").write_text("{not json")
    assert main(["check", str(tmp_path / "routes.yaml")]) == 1
    assert "schemas/ir.request.schema.json is not valid JSON" in capsys.readouterr().err
