"""The bash tool is safe by construction (issue 25, rows 2, 3 and 7 of the hostile probe):

- Row 2: a program that runs other programs through its options (git, find, ...) is refused at
  `gateway check` unless its arguments are constrained, and the constrained route refuses the
  probe's requests (`git -c alias.x=!touch`, `git ls-remote --upload-pack=...`, `find -exec`).
- Row 3: everything a command starts is ended at its timeout, its output cap, its client's
  disconnect and its own exit, `setsid` and double forks included, in each containment this
  machine offers (a pid namespace, the subreaper keeper).
- Row 7: a route runs at most `max_concurrency` commands at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from paths import REPO
from server import ServedApp
from test_tools import sleeping
from waiting import wait_until

from gateway.app import create_app
from gateway.commands.main import load_checked
from gateway.config import ConfigError, load_config
from gateway.endpoints.tools import bash as bash_tool
from gateway.endpoints.tools import containment
from gateway.errors import PermissionDenied, UpstreamTimeout

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")

ROUTES = """
version: 1
sinks:
  api: {kind: http, dialect: anthropic.messages, base_url: "http://127.0.0.1:9"}
access_log:
  enabled: false
routes:
  - path: /api/tools/bash
    dialect: tool.bash
    tool:
      allowed_dirs: [work]
      executables:
        - path: /usr/bin/git
          args: ['status|log|ls-remote', '--oneline', '-[1-9]', '\\.']
        - path: /usr/bin/find
          args: ['\\.', '-name', '-type', '[fd]', '[A-Za-z0-9_.*][A-Za-z0-9_.*-]*', ';']
        - WORK/escape
        - /bin/sleep
      timeout: 1
      max_output_bytes: 4000
  - path: /api/tools/sleep
    dialect: tool.bash
    tool:
      allowed_dirs: [work]
      executables: [/bin/sleep]
      timeout: 120
      max_concurrency: 4
"""
# Starts three processes that leave the command's process group (setsid, and a double fork),
# then does what its last argument says: waits, floods its output, or exits at once.
ESCAPE = """#!/bin/sh
setsid sleep "$1" &
( setsid sleep "$2" & ) &
case "$3" in
  wait) exec sleep "$4" ;;
  flood) exec yes ;;
  *) echo started ;;
esac
"""


def _modes() -> list:
    """Each containment that works on this machine (the tests' own chosen one among them)."""
    found = []
    for name, make in (("pid-namespace", containment._pid_namespace),
                       ("subreaper", containment._subreaper)):  # fmt: skip
        mode = make()
        found.append(pytest.param(mode, id=name, marks=pytest.mark.skipif(
            mode is None, reason=f"no {name} here")))  # fmt: skip
    return found


@pytest.fixture(scope="module")
def bash(tmp_path_factory):
    root = tmp_path_factory.mktemp("bash")
    work = root / "work"
    work.mkdir()
    script = work / "escape"
    script.write_text(ESCAPE)
    script.chmod(0o755)
    (root / "routes.yaml").write_text(ROUTES.replace("WORK", str(work)))
    app = create_app(load_config(root / "routes.yaml"))
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    served.root, served.work = root, work
    yield served
    served.stop()


def _post(served: ServedApp, body: dict, timeout: float = 60, tool: str = "bash") -> httpx.Response:
    return httpx.post(f"{served.url}/api/tools/{tool}", json=body, timeout=timeout)


def _gone(*seconds: str) -> None:
    wait_until(lambda: not any(sleeping(s) for s in seconds), f"sleep {seconds} to end", 15)


# --- Row 2: programs that run other programs --------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("/usr/bin/git", "'/usr/bin/git' can run other programs: git runs commands through -c"),
        ("/usr/bin/find", "'/usr/bin/find' can run other programs: find runs commands through"),
        ("/usr/bin/env", "'/usr/bin/env' can run other programs: it runs the command it is given"),
        ("/usr/bin/xargs", "can run other programs: it runs the command it is given"),
        ("/usr/bin/python3", "can run other programs: it is an interpreter"),
        ("{path: /usr/bin/git, args: ['.*']}", "the patterns for '/usr/bin/git' admit '-c'"),
        ("{path: /usr/bin/git, args: ['log', '--upload-pack=.*']}", "admit '--upload-pack=sh'"),
        ("{path: /usr/bin/find, args: ['-[a-z]+']}", "admit '-exec', '-execdir', '-ok'"),
        ("{path: /usr/bin/git, args: ['(']}", "'(' is not a regular expression"),
        # git and GNU getopt take any unambiguous abbreviation of a long option.
        ("{path: /usr/bin/git, args: ['log|ls-remote', '--[a-z]{5}=[^=]+']}", "admit '--uploa=sh'"),
        # An interpreter's arguments are code: a character class admits {system("id")}.
        (
            r"{path: /usr/bin/awk, args: ['\{print \$1\}', '[^/]+\.txt']}",
            r"'[^/]+\.txt' is not literal, and for '/usr/bin/awk' it is an interpreter",
        ),
        ("/bin/busybox", "is a shell"),
    ],
)
def test_gateway_check_refuses_a_program_that_runs_others_unconstrained(write_config, entry, says):
    path = write_config(ROUTES.split("      executables:")[0] + f"      executables: [{entry}]\n")
    with pytest.raises(ConfigError) as caught:
        load_checked(str(path))
    assert says in str(caught.value), str(caught.value)


def test_gateway_check_accepts_literal_arguments_for_an_interpreter(write_config):
    entry = r"{path: /usr/bin/awk, args: ['-F,', '(?:\{print \$1\}|data\.csv)']}"
    path = write_config(ROUTES.split("      executables:")[0] + f"      executables: [{entry}]\n")
    load_checked(str(path))


@needs_git
@pytest.mark.parametrize(
    "args",
    [
        ["-c", "alias.x=!touch MARKER", "x"],
        ["ls-remote", "--upload-pack=touch MARKER", "."],
    ],
)
def test_git_arguments_outside_the_patterns_are_refused(bash, args):
    marker = bash.root / "MARKER"
    args = [a.replace("MARKER", str(marker)) for a in args]
    answer = _post(bash, {"command": "git", "args": args})
    assert answer.status_code == 403, answer.text
    assert "is not an argument this endpoint allows for /usr/bin/git" in answer.text
    assert not marker.exists()
    allowed = _post(bash, {"command": "git", "args": ["status"]})
    assert allowed.status_code == 200 and "exit_code" in allowed.json()


def test_find_exec_is_refused(bash):
    marker = bash.root / "MARKER"
    answer = _post(bash, {"command": "find", "args": [".", "-exec", "touch", str(marker), ";"]})
    assert answer.status_code == 403 and "'-exec' is not an argument" in answer.text
    assert not marker.exists()
    listed = _post(bash, {"command": "find", "args": [".", "-name", "escape"]})
    assert listed.json()["stdout"] == "./escape\n"


@needs_git
def test_the_routes_yaml_example_is_safe_as_written(tmp_path, monkeypatch):
    """The commented tool routes of the default routes.yaml, uncommented, pass `gateway check`,
    and the bash route refuses the probe's git -c."""
    text = (REPO / "routes.yaml").read_text()
    start = text.index("  # - path: /api/tools/file-read")
    block = text[start : text.index("\n\n", start)]
    uncommented = "\n".join(line.replace("  # ", "  ", 1) for line in block.splitlines())
    for name in ("transforms", "schemas", "hooks"):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / "routes.yaml").write_text(text.replace(block, uncommented))
    monkeypatch.setenv("GATEWAY_CODE_ROOT", str(REPO))
    config = load_checked(str(tmp_path / "routes.yaml"))
    [route] = [r for r in config.routes if r.dialect == "tool.bash"]
    marker = tmp_path / "MARKER"
    probe = {"command": "git", "args": ["-c", f"alias.x=!touch {marker}", "x"]}
    with pytest.raises(PermissionDenied):
        asyncio.run(bash_tool.bash(route.tool, probe, config.base_dir))
    assert not marker.exists()
    log = {"command": "git", "args": ["log", "--oneline", "-3"]}
    assert asyncio.run(bash_tool.bash(route.tool, log, config.base_dir))["exit_code"] == 0


# --- Row 3: every descendant is ended ---------------------------------------------------------


@needs_git
@pytest.mark.parametrize("mode", _modes())
def test_the_probes_git_alias_setsid_is_ended_at_the_timeout(mode, monkeypatch, tmp_path):
    """The probe's exact command, run as the endpoint runs it: `git -c alias.z='!setsid sleep
    12' z` answered 504 after its timeout while the sleep lived on, and the answer itself waited
    for the sleep (it held the command's stdout)."""
    monkeypatch.setattr(containment, "chosen", lambda: mode)
    argv = [GIT, "-c", "alias.z=!setsid sleep 600.375", "z"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    async def run():
        async with asyncio.timeout(60):  # the answer must not wait for the sleep
            await bash_tool._run(argv, str(tmp_path), env, 1.0, 4000)

    try:
        with pytest.raises(UpstreamTimeout):
            asyncio.run(run())
        _gone("600.375")
    finally:
        for pid in sleeping("600.375"):  # a failed run's leftovers
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("mode", _modes())
def test_escaped_processes_end_with_the_command(bash, mode, monkeypatch):
    monkeypatch.setattr(containment, "chosen", lambda: mode)
    try:
        # At the timeout: 504, and nothing the command started is left.
        waits = ["601.25", "602.25", "wait", "600.125"]
        timed_out = _post(bash, {"command": "escape", "args": waits})
        assert timed_out.status_code == 504, timed_out.text
        _gone("601.25", "602.25", "600.125")
        # At the output cap.
        capped = _post(bash, {"command": "escape", "args": ["603.25", "604.25", "flood"]})
        assert capped.json()["truncated"] is True
        _gone("603.25", "604.25")
        # At its own exit: the answer comes at once, the daemons end with it.
        done = _post(bash, {"command": "escape", "args": ["605.25", "606.25", "exit"]})
        assert (done.status_code, done.json()["stdout"]) == (200, "started\n")
        _gone("605.25", "606.25")
    finally:
        for seconds in ("600.125", "601.25", "602.25", "603.25", "604.25", "605.25", "606.25"):
            for pid in sleeping(seconds):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("mode", _modes())
def test_escaped_processes_end_when_the_client_leaves(bash, mode, monkeypatch):
    monkeypatch.setattr(containment, "chosen", lambda: mode)
    args = ["607.5", "608.5", "wait", "600.5"]
    body = json.dumps({"command": "escape", "args": args}).encode()
    client = socket.create_connection(("127.0.0.1", bash.port))
    try:
        client.sendall(
            b"POST /api/tools/bash HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"content-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        wait_until(lambda: sleeping("608.5"), "the command to start its daemons", 15)
        client.close()
        _gone("607.5", "608.5", "600.5")
    finally:
        client.close()
        for seconds in ("607.5", "608.5", "600.5"):
            for pid in sleeping(seconds):
                os.kill(pid, signal.SIGKILL)


def test_start_up_finds_and_names_how_commands_are_contained(bash):
    """`gateway check` (and start-up) tries the ways in order and logs the one it takes: here,
    a pid namespace whenever this machine allows one."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "gateway", "check", str(bash.root / "routes.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = "pid namespace" if containment._pid_namespace() else "subreaper"
    assert f"tool.bash: commands run in a {expected}: " in done.stderr, done.stderr


# --- Row 7: a concurrency limit -----------------------------------------------------------------


def test_a_route_runs_at_most_max_concurrency_commands(bash):
    """The probe's 40 parallel `sleep 2` ran 40 processes at once. Here 40 parallel sleeps that
    end only when the test kills them: 4 run, 36 are refused at once."""
    seconds = "609.0625"
    with ThreadPoolExecutor(40) as pool:
        answers = [
            pool.submit(_post, bash, {"command": "sleep", "args": [seconds]}, 120, "sleep")
            for _ in range(40)
        ]
        refused = wait_until(
            lambda: [a for a in answers if a.done()] if sum(a.done() for a in answers) >= 36
            else None,
            "36 refusals", 60,
        )  # fmt: skip
        assert [a.result().status_code for a in refused] == [429] * 36
        assert all(a.result().headers["retry-after"] for a in refused)
        assert "runs at most 4 commands at once" in refused[0].result().text
        running = sleeping(seconds)
        assert len(running) == 4
        for pid in running:
            os.kill(pid, signal.SIGKILL)
        ended = [a.result() for a in answers if a not in refused]
    assert [a.status_code for a in ended] == [200] * 4
    # Killed from outside: -9, or 1 in a pid namespace (util-linux 2.38's unshare cannot pass a
    # signal's death on: "sigprocmask unblock failed").
    assert all(a.json()["exit_code"] in (-9, 1) for a in ended)
    assert _post(bash, {"command": "sleep", "args": ["0"]}, tool="sleep").status_code == 200


def test_where_namespaces_are_refused_the_keeper_is_chosen(monkeypatch, tmp_path, caplog):
    """A machine whose unshare fails (unprivileged user namespaces off: Docker's seccomp
    profile, a sysctl) gets the subreaper keeper, and says so; one without either, the process
    group alone, with a warning naming what it does not end."""
    refusing = tmp_path / "unshare"
    refusing.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\n"
                        "exit 1\n")  # fmt: skip
    refusing.chmod(0o755)
    which = shutil.which
    monkeypatch.setattr(
        containment.shutil, "which",
        lambda name, path=None: str(refusing) if name == "unshare" else which(name, path=path),
    )  # fmt: skip
    assert containment._pid_namespace() is None
    found = containment.chosen.__wrapped__()
    assert isinstance(found, containment.Subreaper)
    assert "tool.bash: commands run in a subreaper" in caplog.text
    monkeypatch.setattr(containment, "_subreaper", lambda: None)
    assert type(containment.chosen.__wrapped__()) is containment.Containment
    assert "commands run in a process group: descendants that leave" in caplog.text
