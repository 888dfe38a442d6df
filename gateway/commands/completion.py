"""``gateway completion bash|zsh|fish``: a completion script written from the command's own
parser, so that a new command or option completes without anyone editing a script."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

__all__ = ["SHELLS", "completion_script"]

SHELLS = ("bash", "zsh", "fish")


@dataclass(frozen=True)
class _Option:
    flags: tuple[str, ...]
    help: str
    takes_value: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Command:
    name: str
    help: str
    options: tuple[_Option, ...]
    words: tuple[str, ...]  # what may stand as an argument: nested commands or choices
    files: bool  # whether an argument may be a file


def _commands(parser: argparse.ArgumentParser) -> list[_Command]:
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {action.dest: action.help or "" for action in subparsers._choices_actions}
    return [_command(name, helps.get(name, ""), sub) for name, sub in subparsers.choices.items()]


def _command(name: str, help: str, parser: argparse.ArgumentParser) -> _Command:
    options, words, files = [], [], False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            words += list(action.choices)
            # Their options are offered after the command too (`service install --user`).
            for nested in action.choices.values():
                inner = _command(name, help, nested)
                options += [o for o in inner.options if o.flags[0] != "-h"]
                files = files or inner.files
        elif action.option_strings:
            choices = tuple(action.choices or ())
            options.append(
                _Option(tuple(action.option_strings), action.help or "", action.nargs != 0, choices)
            )
        elif action.choices:
            words += list(action.choices)
        else:
            files = True
    return _Command(name, help, tuple(options), tuple(words), files)


def _top_options(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings]


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The script that completes ``parser.prog`` in ``shell``."""
    commands = _commands(parser)
    if shell == "bash":
        return _bash(parser.prog, commands, _top_options(parser))
    if shell == "zsh":
        return _zsh(parser.prog, commands, _top_options(parser))
    return _fish(parser.prog, commands)


def _bash(prog: str, commands: list[_Command], top: list[str]) -> str:
    function = f"_{prog.replace('-', '_')}_completion"
    cases = []
    for command in commands:
        flags = [flag for option in command.options for flag in option.flags]
        valued = [flag for option in command.options if option.takes_value for flag in option.flags]
        cases.append(
            f"    {command.name}) words={shlex.quote(' '.join([*flags, *command.words]))}; "
            f"valued={shlex.quote(' '.join(valued))}; files={int(command.files)} ;;"
        )
    names = " ".join(command.name for command in commands)
    return f"""\
# bash completion for {prog}: `source <({prog} completion bash)` in ~/.bashrc
{function}() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  local command="" i words="" valued="" files=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${{COMP_WORDS[i]}}" in -*) ;; *) command="${{COMP_WORDS[i]}}"; break ;; esac
  done
  case "$command" in
    "") COMPREPLY=($(compgen -W "{names} {" ".join(top)}" -- "$cur")); return ;;
{chr(10).join(cases)}
    *) return ;;
  esac
  if [[ " $valued " == *" $prev "* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  elif [[ "$cur" == -* || $files == 0 ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$words" -- "$cur") $(compgen -f -- "$cur"))
  fi
}}
complete -o filenames -F {function} {prog}
"""


def _zsh_text(text: str) -> str:
    """Text inside a single-quoted _arguments spec: no quotes, brackets or colons."""
    for old, new in (("'", ""), ("[", "("), ("]", ")"), (":", ";")):
        text = text.replace(old, new)
    return text


def _zsh(prog: str, commands: list[_Command], top: list[str]) -> str:
    described = "\n".join(f"    '{command.name}:{_zsh_text(command.help)}'" for command in commands)
    cases = []
    for command in commands:
        specs = []
        for option in command.options:
            value = ""
            if option.takes_value:
                value = (
                    f":value:({' '.join(option.choices)})" if option.choices else ":value:_files"
                )
            exclusive = f"({' '.join(option.flags)})" if len(option.flags) > 1 else ""
            flags = f"{{{','.join(option.flags)}}}" if len(option.flags) > 1 else option.flags[0]
            specs.append(f"'{exclusive}'{flags}'[{_zsh_text(option.help)}]{value}'")
        if command.words:
            specs.append(f"'1:argument:({' '.join(command.words)})'")
        if command.files:
            specs.append("'*:file:_files'")
        cases.append(f"    {command.name}) _arguments {' '.join(specs)} ;;")
    return f"""\
#compdef {prog}
# zsh completion for {prog}: save as _{prog} in a directory of $fpath
_{prog}() {{
  local -a commands
  commands=(
{described}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands '{prog} command' commands
    _arguments '({" ".join(top)})'{{{",".join(top)}}}
    return
  fi
  words=("${{(@)words[2,-1]}}")
  (( CURRENT-- ))
  case $words[1] in
{chr(10).join(cases)}
  esac
}}
_{prog} "$@"
"""


def _fish(prog: str, commands: list[_Command]) -> str:
    names = " ".join(command.name for command in commands)
    lines = [
        f"# fish completion for {prog}: save as ~/.config/fish/completions/{prog}.fish",
        f"complete -c {prog} -f",
        f"complete -c {prog} -n 'not __fish_seen_subcommand_from {names}' -s h -l help "
        "-d 'show the help'",
        f"complete -c {prog} -n 'not __fish_seen_subcommand_from {names}' -s V -l version "
        "-d 'print the version'",
    ]
    for command in commands:
        lines.append(
            f"complete -c {prog} -n 'not __fish_seen_subcommand_from {names}' "
            f"-a {command.name} -d {shlex.quote(command.help)}"
        )
        seen = f"-n '__fish_seen_subcommand_from {command.name}'"
        for option in command.options:
            parts = [f"complete -c {prog} {seen}"]
            for flag in option.flags:
                parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
            if option.takes_value:
                parts.append(
                    f"-x -a {shlex.quote(' '.join(option.choices))}" if option.choices else "-r -F"
                )
            parts.append(f"-d {shlex.quote(option.help)}")
            lines.append(" ".join(parts))
        if command.words:
            lines.append(f"complete -c {prog} {seen} -a {shlex.quote(' '.join(command.words))}")
        if command.files:
            lines.append(f"complete -c {prog} {seen} -F")
    return "\n".join(lines) + "\n"
