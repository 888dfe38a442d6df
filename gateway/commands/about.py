"""What ``gateway COMMAND --help`` says of each command: a sentence, then examples."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

__all__ = ["about"]

_ABOUT: dict[str, tuple[str, str]] = {
    "serve": (
        "Serve the OpenAI and Anthropic APIs on 127.0.0.1:8000 as routes.yaml says, reloading "
        "it when it changes.",
        "gateway serve\n"
        "  gateway serve --port 8080 --config ~/gateway/routes.yaml\n"
        "  GATEWAY_TOKEN=$(gateway token) gateway serve --host 0.0.0.0",
    ),
    "check": (
        "Validate a routes file with its sinks, transforms, schemas and plugins, reporting every "
        "problem as file:line:col; exit 1 on any.",
        "gateway check\n  gateway check examples/system_prompt_per_alias/routes.yaml",
    ),
    "routes": (
        "Print the route table a routes file gives: method, path, dialect, sink and models.",
        "gateway routes\n  gateway routes my-gateway/routes.yaml",
    ),
    "token": (
        "Print a new random token for auth.token, or with --name a client key and the auth.keys "
        "entry that admits it.",
        "export GATEWAY_TOKEN=$(gateway token)\n  gateway token --name alice",
    ),
    "claude": (
        "Run the claude binary the gateway uses, with these arguments.",
        "gateway claude auth login\n  gateway claude --version",
    ),
    "try": (
        "Show what a route does with a request (the neutral request, the exact sink call) "
        "without calling the sink.",
        "gateway try /v1/chat/completions --data "
        '\'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}\'\n'
        "  gateway try /api/chat --data @body.json --header 'x-api-key: KEY'",
    ),
    "usage": (
        "Print requests and tokens by day, model, key and route from the usage ledger.",
        "gateway usage --days 7\n  gateway usage --since 2026-12-01 --by model,key --json",
    ),
    "init": (
        "Write the default routes.yaml with its transforms/, schemas/ and hooks/ into a "
        "directory to edit; never overwrites a file.",
        "gateway init my-gateway && cd my-gateway && gateway serve",
    ),
    "service": (
        "Run the gateway for good: write a systemd unit that serves a routes file, and print "
        "how to enable it.",
        "gateway service install --user\n"
        "  sudo gateway service install --config /srv/gateway/routes.yaml --port 8000",
    ),
    "completion": (
        "Print a completion script for bash, zsh or fish.",
        "gateway completion bash > ~/.local/share/bash-completion/completions/gateway\n"
        "  gateway completion zsh > ~/.zfunc/_gateway\n"
        "  gateway completion fish > ~/.config/fish/completions/gateway.fish",
    ),
}


def about(command: str) -> dict[str, Any]:
    """The keyword arguments of ``add_parser`` that describe ``command`` in its own help."""
    sentence, examples = _ABOUT[command]
    return {
        "description": textwrap.fill(sentence, 79),
        "epilog": f"examples:\n  {examples}",
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
