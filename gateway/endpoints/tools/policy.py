"""What a tool.bash route may run, as routes.yaml says: its programs and, per program, the
arguments it allows; and what ``gateway check`` refuses in such a list.

An entry of ``executables`` is an absolute path (any arguments), or ``{path, args}``: every
argument a request sends must then match one of the ``args`` regular expressions whole.

Some programs run other programs through their arguments: a shell runs any command line, git
runs ``-c alias.x='!cmd'``, ``--upload-pack=cmd``, find runs ``-exec``, env and xargs run their
arguments, an interpreter runs ``-c`` code. A shell is never accepted. The others are accepted
only with ``args``, and only if no pattern admits one of the arguments that make them run
something else (listed per program below; a program is known by its file name, and by the file
name of what its path resolves to, so ``/usr/bin/awk -> mawk`` is known too). Long options are
tried in every abbreviation too (``--uploa=sh``): git and GNU getopt accept any unambiguous
one. An interpreter's arguments are code, which no sample covers: its patterns must be literal
alternatives (plain text, punctuation escaped). The list is of the programs people allowlist,
not of every program there is: the docs say so.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import PermissionDenied

__all__ = ["Program", "allowed_program", "option_problems", "programs", "refuse_arguments"]

# Programs that run whatever command line they are given; never on an allowlist. A multi-call
# binary (busybox) is one by its own name only: behind a symlink it is the applet it is named.
_SHELL = re.compile(r"(?:ba|da|z|k|c|tc|fi|mk|a|y|rb|lk)?sh")
_MULTI_CALL = re.compile(r"busybox|toybox")

_WRAPPER = ("sh", "/bin/sh", "-c")
_INTERPRETER = ("-c", "-e", "-E", "-m", "-r", "-x", "-", "--eval=1", "--command=1",
                'BEGIN{system("sh")}', "-f", "-S")  # fmt: skip
# A regular expression that can match only the strings it spells: alternatives of plain
# characters and escaped punctuation, with at most one group around them.
_PLAIN = r"(?:[^\\.^$*+?{}\[\]|()]|\\[^A-Za-z0-9])+"
_LITERALS = re.compile(rf"\((?:\?:)?{_PLAIN}(?:\|{_PLAIN})*\)|{_PLAIN}(?:\|{_PLAIN})*")
_INTERPRETERS = "it is an interpreter: its arguments are code (sed's e command, awk's system())"
# Per kind of program: its file names (a pattern), what it runs, and arguments that make it run
# something else (or write where it should not), which a route's patterns may not admit.
# fmt: off
_RUNNERS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (
        re.compile(r"git"),
        "git runs commands through -c (aliases, core.pager), --config-env, --exec-path, "
        "--upload-pack and more",
        ("-c", "-calias.x=!sh", "--config-env=core.pager=X", "--exec-path=/tmp", "-C",
         "--upload-pack=sh", "--receive-pack=sh", "-u", "--exec=sh", "-x", "--extcmd=sh",
         "--open-files-in-pager", "-O", "config", "submodule", "bisect", "filter-branch",
         "difftool", "mergetool", "daemon", "send-email", "--output=x", "--template=x"),
    ),
    (
        re.compile(r"find"),
        "find runs commands through -exec, -execdir, -ok and -okdir, and deletes and writes "
        "files through -delete and -fprint",
        ("-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf",
         "-fls"),
    ),
    (
        re.compile(
            r"env|xargs|nice|nohup|timeout|setsid|stdbuf|chroot|sudo|doas|su|runuser|strace|"
            r"ltrace|gdb|time|watch|flock|ionice|taskset|unshare|nsenter|parallel|script|"
            r"systemd-run|at|batch|chrt|prlimit|valgrind|firejail|setpriv|ssh|scp|sftp|rsync"
        ),
        "it runs the command it is given",
        (*_WRAPPER, "-e", "--rsh=sh", "-oProxyCommand=sh", "-S", "--rsync-path=sh"),
    ),
    (
        re.compile(
            r"(?:python|pypy|perl|ruby|php|lua|luajit|tclsh|wish|node|nodejs|deno|bun|awk|gawk|"
            r"mawk|nawk|Rscript|R|julia|java|jshell|groovy|pwsh|powershell|expect|guile|sbcl|"
            r"racket|irb|ghci|runghc|ocaml|swipl|erl|escript|elixir|sed|vim?|nvim|ex|view|emacs"
            r")[0-9.]*"
        ),
        _INTERPRETERS,
        (*_INTERPRETER, "1e sh", "e sh", "s/x/sh/e", "+!sh", "--cmd=!sh"),
    ),
    (
        re.compile(r"tar"),
        "tar runs commands through --to-command, --use-compress-program, -I and "
        "--checkpoint-action",
        ("--to-command=sh", "--use-compress-program=sh", "-I", "--checkpoint-action=exec=sh",
         "--rsh-command=sh", "--info-script=sh", "-F", "--new-volume-script=sh"),
    ),
    (
        re.compile(r"zip|make|gmake|man|npx|npm|pnpm|yarn|bunx|uvx|uv|pipx|docker|podman|kubectl"),
        "it runs commands through its arguments (zip -TT, make's Makefiles, man -P, package "
        "runners' exec and run, containers)",
        ("-TT", "--unzip-command=sh", "-f", "--eval=x", "SHELL=/bin/sh", "-P", "--pager=sh",
         "exec", "x", "dlx", "run", "--call=sh", "-H"),
    ),
)
# fmt: on


@dataclass(frozen=True, slots=True)
class Program:
    path: str
    #: Patterns one of which every argument must match whole; None: any arguments.
    args: tuple[re.Pattern[str], ...] | None = None


def programs(options: Mapping[str, Any]) -> list[Program]:
    """A route's ``executables``, as its tool options hold them."""
    return [_program(entry) for entry in options["executables"]]


def _program(entry: Any) -> Program:
    if isinstance(entry, str):
        return Program(entry)
    return Program(entry["path"], tuple(_compiled(p) for p in entry["args"]))


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def allowed_program(command: str, allowed: Sequence[Program]) -> Program:
    """The program ``command`` names: one of ``allowed`` exactly, or the file name of exactly
    one of them; 403 otherwise."""
    if "/" in command:
        matches = [program for program in allowed if program.path == command]
    else:
        matches = [program for program in allowed if _name(program.path) == command]
    if len(matches) != 1:
        names = ", ".join(program.path for program in allowed)
        why = "is not" if not matches else "names more than one of the programs"
        raise PermissionDenied(
            f"command: '{command}' {why} allowed here; allowed: {names}", param="command"
        )
    return matches[0]


def refuse_arguments(program: Program, args: Sequence[str]) -> None:
    """A 403 for the first argument that none of the program's patterns matches."""
    if program.args is None:
        return
    for index, arg in enumerate(args):
        if not any(pattern.fullmatch(arg) for pattern in program.args):
            raise PermissionDenied(
                f"args[{index}]: {arg[:200]!r} is not an argument this endpoint allows for "
                f"{program.path}",
                param="args",
            )


def option_problems(options: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """What ``gateway check`` refuses in a tool.bash route's ``tool:`` options, by option path."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    for i, entry in enumerate(options.get("executables", ())):
        path = entry if isinstance(entry, str) else entry["path"]
        names = _names(path)
        if any(_SHELL.fullmatch(name) for name in names) or _MULTI_CALL.fullmatch(_name(path)):
            problems.append(((("executables", i)), f"'{path}' is a shell: it would run any "
                             "command it is given; list the programs themselves"))  # fmt: skip
            continue
        patterns = None if isinstance(entry, str) else entry["args"]
        if patterns is not None:
            compiled, bad = _compile_all(patterns)
            problems += [(("executables", i, "args", j), text) for j, text in bad]
            if bad:
                continue
        runner = next((r for r in _RUNNERS if any(r[0].fullmatch(n) for n in names)), None)
        if runner is None:
            continue
        _, what, probes = runner
        if patterns is None:
            problems.append((("executables", i), f"'{path}' can run other programs: {what}. "
                             "List it as {path, args} with patterns that allow only the "
                             "arguments you mean (docs/tools.md)"))  # fmt: skip
            continue
        if what == _INTERPRETERS:
            problems += [
                (("executables", i, "args", j), f"'{pattern}' is not literal, and for '{path}' "
                 f"{what}: list the arguments themselves, escaped (\\{{print \\$1\\}}|data\\.csv)")
                for j, pattern in enumerate(patterns) if not _LITERALS.fullmatch(pattern)
            ]  # fmt: skip
        admitted = [p for p in _with_abbreviations(probes) if any(c.fullmatch(p) for c in compiled)]
        if admitted:
            shown = ", ".join(repr(a) for a in admitted[:4])
            problems.append((("executables", i, "args"), f"the patterns for '{path}' admit "
                             f"{shown}, and {what}: narrow them"))  # fmt: skip
    return problems


def _with_abbreviations(probes: Sequence[str]) -> list[str]:
    """The probes and every abbreviation of their long options (``--upload-pack=sh`` is also
    ``--u=sh`` ... ``--upload-pac=sh``), which git and GNU getopt accept when unambiguous."""
    tried = list(probes)
    for probe in probes:
        if probe.startswith("--") and len(probe) > 3:
            name, equals, value = probe[2:].partition("=")
            tried += [f"--{name[:end]}{equals}{value}" for end in range(1, len(name))]
    return tried


def _compile_all(patterns: Sequence[str]) -> tuple[list[re.Pattern[str]], list[tuple[int, str]]]:
    compiled, bad = [], []
    for j, pattern in enumerate(patterns):
        try:
            compiled.append(_compiled(pattern))
        except re.error as exc:
            bad.append((j, f"'{pattern}' is not a regular expression: {exc}"))
    return compiled, bad


def _name(path: str) -> str:
    return path.rpartition("/")[2]


def _names(path: str) -> set[str]:
    """The file name of ``path`` and of what it resolves to (symlinks followed)."""
    return {_name(path), _name(os.path.realpath(path))}
