"""The layering rules of DESIGN.md, read off the source: every import statement counts, those
inside functions and under TYPE_CHECKING included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gateway"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def imported_modules(path: Path, module: str) -> set[str]:
    """The absolute names of the modules a file imports (``from . import x`` gives ``pkg.x``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def files_under(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py")) if folder else [PACKAGE / "ir.py"]


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in files_under(folder):
        for name in sorted(imported_modules(path, module_name(path))):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("", ("gateway",)),  # ir.py: the neutral representation depends on nothing of ours
        ("sinks", ("gateway.dialects", "sanic")),
        ("dialects", ("gateway.sinks", "sanic")),
        ("wire", ("gateway.sinks", "gateway.dialects", "sanic")),
    ],
    ids=["ir", "sinks", "dialects", "wire"],
)
def test_layers_import_only_what_they_may(folder: str, forbidden: tuple[str, ...]) -> None:
    assert offenders(folder, forbidden) == []


def test_the_rule_reader_sees_relative_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..dialects import openai_chat\n    import sanic\n")
    names = imported_modules(probe, "gateway.sinks.probe")
    assert {"gateway.dialects.openai_chat", "sanic"} <= names
