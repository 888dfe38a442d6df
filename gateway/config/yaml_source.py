"""Load YAML keeping the line and column of every node, refusing duplicate keys.

Plain PyYAML silently keeps the last of two equal keys and forgets where anything came from;
configuration errors must point at ``file:line:col``, so this loader composes the node tree
itself and records a location for every path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "Located", "Problem", "load_yaml", "location_of"]

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a configuration, where it is and what to do about it."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column} {where}{self.message}"


class ConfigError(Exception):
    """A configuration that must not be served; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(slots=True)
class Located:
    """A document's data with the location of each of its nodes."""

    file: str
    data: Any
    lines: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    key_lines: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    unset_env: dict[JsonPath, list[str]] = field(default_factory=dict)
    #: A list section some of whose entries were left out (config/valid_part.py): the original
    #: number of each entry kept, so that problems name the entry as the file numbers it.
    renumbered: dict[str, list[int]] = field(default_factory=dict)

    def problem(self, path: JsonPath, message: str, *, at_key: bool = False) -> Problem:
        """A problem at ``path``'s value (or at its key, for keys that should not be there)."""
        kept = self.renumbered.get(path[0]) if len(path) > 1 else None  # type: ignore[arg-type]
        if kept is not None and isinstance(path[1], int) and path[1] < len(kept):
            path = (path[0], kept[path[1]], *path[2:])
        lines = self.key_lines if at_key and path in self.key_lines else self.lines
        line, column = location_of(lines, path)
        return Problem(self.file, line, column, format_path(path), message)


def format_path(path: JsonPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def location_of(lines: dict[JsonPath, tuple[int, int]], path: JsonPath) -> tuple[int, int]:
    """The location of ``path``, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return (1, 1)


_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_yaml(file: Path | str, text: str | None = None) -> Located:
    """Parse ``file`` (or ``text`` under that name); raises ConfigError on any YAML problem."""
    name = str(file)
    if text is None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([Problem(name, 1, 1, "", f"cannot read: {exc.strerror}")]) from None
        except UnicodeDecodeError as exc:
            raise ConfigError([Problem(name, 1, 1, "", f"not UTF-8 text: {exc.reason}")]) from None
    located = Located(name, None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(name, exc)]) from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise ConfigError([Problem(name, 1, 1, "", str(exc))]) from None
    if node is None:
        located.data = {}
        return located
    builder = _Builder(located)
    located.data = builder.build(node, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    return located


def _syntax_problem(name: str, exc: yaml.MarkedYAMLError) -> Problem:
    """Where the reader gave up, or, when it gave up at the end of the file, where the thing it
    could not finish (a bracket, a quote) was opened: that is the line to fix."""
    problem, context = exc.problem_mark, exc.context_mark
    message = str(exc.problem)
    if context is not None and exc.context:
        at_end = problem is None or "end of stream" in message or "<stream end>" in message
        if at_end:
            where = f" at {problem.line + 1}:{problem.column + 1}" if problem else ""
            opened = exc.context.removeprefix("while parsing ").removeprefix("while scanning ")
            message = f"{opened} starts here and is not closed: {message}{where}"
            problem = context
        else:
            message += f" ({exc.context} at {context.line + 1}:{context.column + 1})"
    line, column = (problem.line + 1, problem.column + 1) if problem else (1, 1)
    return Problem(name, line, column, "", message)


class _Builder:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.located.lines[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self._scalars.construct_object(node)
        if isinstance(value, str):
            return self._interpolate(value, path)
        return value

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        self._scalars.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._scalars.construct_object(key_node)
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                first = self.located.lines[(*path, key)]
                self.problems.append(
                    Problem(
                        self.located.file, *where, format_path((*path, key)),
                        f"duplicate key '{key}' (first defined on line {first[0]})",
                    )
                )  # fmt: skip
                continue
            self.located.lines[(*path, key)] = where
            self.located.key_lines[(*path, key)] = where
            out[key] = self.build(value_node, (*path, key))
            if not isinstance(value_node, yaml.ScalarNode):
                # A collection is best pointed at by its key; a scalar by its value.
                self.located.lines[(*path, key)] = where
        return out

    def _interpolate(self, value: str, path: JsonPath) -> str:
        """Expands ``${NAME}`` and ``${NAME:-default}``; ``$$`` is a literal ``$``."""
        if "$" not in value:
            return value

        def expand(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name)
            if found:
                return found
            if default is None:
                self.located.unset_env.setdefault(path, []).append(name)
            return default or ""

        return _ENV.sub(expand, value)
