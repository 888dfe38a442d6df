"""routes.yaml: every kind of error points at its line; `gateway check` exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from paths import REPO

from gateway.commands.main import main
from gateway.config import ConfigError, load_config

VALID = """
version: 1
sinks:
  api:
    kind: http
    base_url: https://api.anthropic.com
    dialect: anthropic.messages
routes:
  - path: /v1/messages
    dialect: anthropic.messages
"""


def problems_of(path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def check(path) -> list[str]:
    """What `gateway check` reports (it also builds plugins and sinks)."""
    from gateway.commands.main import load_checked

    with pytest.raises(ConfigError) as caught:
        load_checked(str(path))
    return [str(p) for p in caught.value.problems]


def test_valid_file_loads(write_config):
    config = load_config(write_config(VALID))
    assert list(config.sinks) == ["api"] and config.default_sink == "api"


def test_undefined_sink_points_at_its_line(write_config):
    path = write_config(
        VALID
        + """
  - path: /v1/chat/completions
    dialect: openai.chat
    sink: claude-clli
"""
    )
    [problem] = problems_of(path)
    assert problem == f"{path}:13:11 routes[1].sink: 'claude-clli' is not a defined sink (api)"


def test_duplicate_keys_are_refused(write_config):
    path = write_config(
        VALID.replace(
            "    dialect: anthropic.messages\nroutes",
            "    dialect: anthropic.messages\n    kind: http\nroutes",
        )
    )
    [problem] = problems_of(path)
    assert problem == f"{path}:7:5 sinks.api.kind: duplicate key 'kind' (first defined on line 4)"


def test_schema_errors_point_at_the_value(write_config):
    path = write_config(VALID + "limits:\n  max_body_bytes: lots\n")
    [problem] = problems_of(path)
    assert problem.startswith(
        f"{path}:11:19 limits.max_body_bytes: 'lots' is not of type 'integer'"
    )


def test_read_limits_load_and_bad_ones_are_refused(write_config):
    limits = "limits:\n  header_timeout: 2.5\n  body_timeout: 30\n  max_header_bytes: 16384\n"
    loaded = load_config(write_config(VALID + limits)).limits
    assert (loaded.header_timeout, loaded.body_timeout, loaded.max_header_bytes) == (2.5, 30, 16384)
    bad = "limits:\n  header_timeout: 0\n  max_header_bytes: 20000\n"
    path = write_config(VALID + bad)
    assert [p.split(": ", 1)[0] for p in problems_of(path)] == [
        f"{path}:11:19 limits.header_timeout",
        f"{path}:12:21 limits.max_header_bytes",
    ]


def test_unknown_keys_and_missing_fields_are_all_reported(write_config):
    path = write_config(VALID + "  - dialect: openai.chat\nrouter: {}\n")
    problems = problems_of(path)
    assert len(problems) == 2
    assert (
        problems[0]
        == f"{path}:11:1 router: Additional properties are not allowed ('router' was unexpected)"
    )
    assert problems[1] == f"{path}:10:5 routes[1]: 'path' is a required property"


def test_yaml_syntax_error_has_a_location(write_config):
    path = write_config("version: 1\nsinks: [unclosed\n")
    [problem] = problems_of(path)
    # The bracket that is never closed, not the end of the file where the reader gave up.
    assert problem == (
        f"{path}:2:8 a flow sequence starts here and is not closed: "
        "expected ',' or ']', but got '<stream end>' at 3:1"
    )
    path = write_config("a: {b: 1\nc: 2\n")
    [problem] = problems_of(path)
    assert problem == (
        f"{path}:2:2 expected ',' or '}}', but got ':' (while parsing a flow mapping at 1:4)"
    )


def test_bad_dialect_points_at_the_route(write_config):
    path = write_config(
        VALID.replace(
            "  - path: /v1/messages\n    dialect: anthropic.messages",
            "  - path: /v1/messages\n    dialect: grpc",
        )
    )
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:9:14 routes[0].dialect: 'grpc' is not one of")


def test_regex_error_has_a_location(write_config):
    path = write_config(VALID + "models:\n  - regex: '(unclosed'\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:11:12 models[0].regex: invalid regular expression")


def test_unset_environment_variable_is_named(write_config, monkeypatch):
    monkeypatch.delenv("NOT_SET_URL", raising=False)
    path = write_config(VALID.replace("https://api.anthropic.com", "${NOT_SET_URL}"))
    [problem] = check(path)
    assert problem.startswith(f"{path}:5:15 sinks.api.base_url: ")
    assert "the environment variable NOT_SET_URL is not set" in problem


def test_environment_defaults_apply(write_config, monkeypatch):
    monkeypatch.delenv("UPSTREAM_URL", raising=False)
    path = write_config(
        VALID.replace("https://api.anthropic.com", "${UPSTREAM_URL:-http://127.0.0.1:1}")
    )
    assert load_config(path).sinks["api"].options["base_url"] == "http://127.0.0.1:1"
    monkeypatch.setenv("UPSTREAM_URL", "http://127.0.0.1:2")
    assert load_config(path).sinks["api"].options["base_url"] == "http://127.0.0.1:2"


def test_sink_options_are_checked_by_their_kind(write_config):
    path = write_config(
        VALID.replace(
            "    dialect: anthropic.messages\nroutes",
            "    dialect: anthropic.messages\n    retries: 3\nroutes",
        )
    )
    [problem] = check(path)
    assert problem.startswith(
        f"{path}:7:5 sinks.api.retries: Additional properties are not allowed ('retries'"
    )


def test_unknown_sink_kind(write_config):
    path = write_config(VALID.replace("kind: http", "kind: carrier-pigeon"))
    [problem] = check(path)
    assert problem.startswith(f"{path}:4:11 sinks.api.kind: unknown sink kind 'carrier-pigeon'")


def test_duplicate_model_names(write_config):
    path = write_config(VALID + "models:\n  - name: opus\n  - name: sonnet\n    aliases: [opus]\n")
    [problem] = problems_of(path)
    assert problem == f"{path}:13:15 models[1].aliases[0]: 'opus' is already defined by models[0]"


def test_missing_hook_file(write_config):
    path = write_config(VALID + "hooks: [plugins/missing.py]\n")
    [problem] = check(path)
    assert problem.startswith(f"{path}:10:9 hooks[0]: no plugin file or directory")


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            "def gateway_request_finishd(exchange):",
            "'gateway_request_finishd' is not a gateway hook; "
            "did you mean 'gateway_request_finished'?",
        ),
        (
            "def gateway_request_finished(exchange, extra):",
            "gateway_request_finished(exchange, extra) does not match the hook "
            "gateway_request_finished(exchange: 'Exchange') -> 'None'",
        ),
    ],
)
def test_a_wrong_hook_is_reported_in_its_own_file(write_config, tmp_path, definition, expected):
    path = write_config(VALID)
    plugin = tmp_path / "hooks" / "mine.py"
    plugin.parent.mkdir()
    plugin.write_text(
        f"from gateway.hookspecs import hookimpl\n\n\n@hookimpl\n{definition}\n    pass\n"
    )
    assert check(path) == [f"{plugin}:4:1 {expected}"]


def test_check_exit_codes(write_config, capsys):
    good = write_config(VALID, "good.yaml")
    bad = write_config(VALID.replace("kind: http", "kind: nope"), "bad.yaml")
    assert main(["check", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4:11 sinks.api.kind: unknown sink kind 'nope'" in err
    assert err.endswith(f"\n{bad}: 1 error.\n")
    assert main(["check", str(bad.parent / "absent.yaml")]) == 1
    # serve says what became of the start (an error found before any app is built).
    broken = write_config("version: 1\nsinks: {}\nroutes: []\n", "broken.yaml")
    assert main(["serve", "--config", str(broken), "--port", "1"]) == 1
    assert capsys.readouterr().err.endswith("\n1 error; nothing was served.\n")


def test_check_runs_as_a_console_command(write_config):
    bad = write_config(
        VALID.replace("dialect: anthropic.messages\nroutes", "dialect: nope\nroutes")
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{bad}:6:14 sinks.api.dialect: 'nope' is not one of" in result.stderr


def test_routes_command_prints_the_table(write_config, capsys):
    models = "models:\n  - {name: opus, aliases: [gpt-4o]}\n  - {match: 'claude-*'}\n"
    path = write_config(VALID + "mounts:\n  - prefix: /api\n    sink: api\n" + models)
    assert main(["routes", str(path)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    # Names, aliases and the patterns that accept more names.
    assert [
        "POST",
        "/v1/messages",
        "anthropic.messages",
        "api",
        "opus,",
        "gpt-4o,",
        "claude-*",
    ] in rows
    assert ["POST", "/api/v1/messages", "anthropic.messages"] in [row[:3] for row in rows]
    assert ["GET", "/v1/models", "models"] in [row[:3] for row in rows]


def test_shipped_routes_files_are_valid(monkeypatch):

    repo = REPO
    files = [repo / "routes.yaml", *sorted(repo.glob("examples/*/routes.yaml"))]
    for path in files:
        assert main(["check", str(path)]) == 0, path


def test_check_reports_every_problem_of_a_file_in_one_pass(write_config, capsys):
    """Problems of every stage at once, each once, in the file's order and counted: a schema
    typo (whose route is then left out of the later checks), a sink that exists but is wrong
    (naming it is not a second problem), a reference, a transform and a route's own policy."""
    path = write_config(
        """
version: 1
sinks:
  api: {kind: http, base_url: "http://127.0.0.1:9", dialect: anthropic.messages}
  broken: {kind: http, base_url: "http://127.0.0.1:9", dialect: anthropic.messagez}
routes:
  - {path: /v1/responses, dialect: openai.responsez, sink: nowhere}
  - {path: /v1/messages, dialect: anthropic.messages, sink: broken}
  - {path: /v1/chat/completions, dialect: openai.chat, sink: claud}
  - {path: /api/chat, dialect: custom, transforms: {request: [chat_requets]}}
  - path: /api/tools/bash
    dialect: tool.bash
    tool: {allowed_dirs: [.], executables: [/bin/bash]}
"""
    )
    assert main(["check", str(path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 2)[:2] for line in lines[:-1]] == [
        [f"{path}:4:65", "sinks.broken.dialect:"],
        [f"{path}:6:36", "routes[0].dialect:"],
        [f"{path}:8:62", "routes[2].sink:"],
        [f"{path}:9:63", "routes[3].transforms.request[0]:"],
        [f"{path}:12:45", "routes[4].tool.executables[0]:"],
    ]
    assert "'claud' is not a defined sink (api, broken)" in lines[2]
    assert "is a shell" in lines[4]
    assert lines[-1] == f"{path}: 5 errors."
