"""The layering rules of DESIGN.md, read off the source: every import statement counts, those
inside functions included (and, for the layer rules, those under TYPE_CHECKING too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gateway"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def imported_modules(path: Path, module: str, *, typing_only: bool = True) -> set[str]:
    """The absolute names of the modules a file imports (``from . import x`` gives ``pkg.x``);
    without ``typing_only``, imports under ``if TYPE_CHECKING:`` are left out (they never run)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    skipped = set() if typing_only else _typing_only_nodes(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
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


def _typing_only_nodes(tree: ast.AST) -> set[ast.AST]:
    found: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                found.update(ast.walk(child))
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of its package it imports when it runs. Importing ``a.b.c`` runs
    ``a/__init__`` and ``a/b/__init__`` first, so those count as imported too."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for imported in imported_modules(path, name, typing_only=False):
            parts = imported.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                    edges.add(prefix)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_through_others():
    assert cycles(import_graph(PACKAGE)) == []


def test_the_cycle_finder_finds_a_planted_cycle_inside_a_function(tmp_path: Path) -> None:
    package = tmp_path / "gateway"
    (package / "flow").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "flow" / "__init__.py").write_text("")
    (package / "flow" / "a.py").write_text("from . import b\n")
    (package / "flow" / "b.py").write_text("def late():\n    from ..config import c\n")
    (package / "config.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .flow import b\n"
        "def f():\n    from .flow.a import x\n"
    )
    assert cycles(import_graph(package)) == [["gateway.config", "gateway.flow.a", "gateway.flow.b"]]
    (package / "config.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                       "    from .flow import a\n")  # fmt: skip
    assert cycles(import_graph(package)) == []


def test_only_the_built_in_plugins_import_themselves():
    """The core loads gateway.builtin by name, as any plugin; it never depends on one."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "builtin" in path.relative_to(PACKAGE).parts:
            continue
        module = module_name(path)
        found += [f"{module} imports {n}" for n in imported_modules(path, module)
                  if n == "gateway.builtin" or n.startswith("gateway.builtin.")]  # fmt: skip
    assert found == []


def test_concrete_sinks_are_named_only_by_their_registering_plugin():
    """The core uses sinks through gateway.sinks.base: a plugin's sink can take every path."""
    concrete = ("gateway.sinks.claude", "gateway.sinks.http")
    # `gateway claude ...` runs the binary the claude sinks find: a command about a binary.
    binary = {"gateway.sinks.claude.binary", "gateway.sinks.claude.binary.locate",
              "gateway.sinks.claude.binary.INSTALL_HINT"}  # fmt: skip
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "builtin" / "sinks.py" or path.is_relative_to(PACKAGE / "sinks"):
            continue
        module = module_name(path)
        found += [f"{module} imports {n}" for n in imported_modules(path, module)
                  if any(n == c or n.startswith(c + ".") for c in concrete)
                  and not (module == "gateway.commands.main" and n in binary)]  # fmt: skip
    assert found == []
