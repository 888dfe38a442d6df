"""Transforms and custom routes: the shipped /api endpoints end to end, schemas, sandboxing."""

from __future__ import annotations

import json
import os
import shutil

import httpx
import pytest
from mock_upstream import Reply
from paths import REPO
from processes import wait_for_no_claude

from gateway.commands.main import main
from gateway.config import load_config

# --- the shipped endpoints, through the default routes.yaml and the real claude binary -------


@pytest.fixture
def shipped(mock, serve, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    monkeypatch.setenv("GATEWAY_ACCESS_LOG", str(tmp_path / "access.log"))
    monkeypatch.setenv("GATEWAY_CODE_ROOT", str(tmp_path / "projects"))
    (tmp_path / "projects" / "app").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "projects" / "escape")
    served = serve(REPO / "routes.yaml")
    yield served, tmp_path
    served.stop()  # and with it the spares of the shipped warm pool
    assert wait_for_no_claude() == []


def test_api_chat(shipped, mock):
    served, _ = shipped
    answer = httpx.post(
        served.url + "/api/chat",
        json={"prompt": "hi there", "system": "Be brief.", "max_tokens": 64},
        timeout=60,
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "response": "MOCK_REPLY[claude-sonnet-5-5]: hi there",
        "model": "claude-sonnet-5-5",
        "usage": {
            "input_tokens": 11,
            "output_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    [request] = mock.messages_requests()
    assert request.body["system"][-1]["text"] == "Be brief."
    assert request.body["max_tokens"] == 64


def test_api_chat_streams_text_deltas(shipped, mock):
    served, _ = shipped
    mock.when("stream this", Reply(text="a b c d", chunks=4))
    with httpx.stream(
        "POST",
        served.url + "/api/chat",
        json={"prompt": "stream this", "stream": True, "model": "haiku"},
        timeout=60,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    assert [e["text"] for e in events if e["type"] == "delta"] == ["a ", "b ", "c ", "d"]
    assert events[-1]["type"] == "done" and events[-1]["usage"]["output_tokens"] == 7
    assert mock.messages_requests()[0].body["model"] == "claude-haiku-5-5"


def test_api_analyze(shipped, mock):
    served, _ = shipped
    answer = httpx.post(
        served.url + "/api/analyze",
        json={"content": "The report.", "instruction": "Find risks."},
        timeout=60,
    )
    assert answer.status_code == 200
    assert set(answer.json()) == {"analysis", "usage"}
    sent = mock.messages_requests()[0].body["messages"][0]["content"][0]["text"]
    assert sent == "Find risks.\n\n<content>\nThe report.\n</content>"


def test_api_code_cannot_read_outside_its_directory(shipped, mock):
    served, root = shipped
    (root / "outside" / "secret.txt").write_text("SECRET_OUTSIDE_42")
    (root / "projects" / "app" / "inside.txt").write_text("INSIDE_OK_7")
    for target in (root / "outside" / "secret.txt", root / "projects" / "app" / "inside.txt"):
        mock.reset()
        mock.when(
            "read it",
            Reply(tool_calls=[("Read", {"file_path": str(target)})], stop_reason="tool_use"),
        )
        answer = httpx.post(
            served.url + "/api/code", json={"prompt": "read it", "working_dir": "app"}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        results = [
            json.dumps(block)
            for request in mock.messages_requests()[1:]
            for message in request.body["messages"]
            for block in (message["content"] if isinstance(message["content"], list) else [])
            if block.get("type") == "tool_result"
        ]
        assert results, "the agent did not run the tool"
        if "outside" in str(target):
            assert not any("SECRET_OUTSIDE_42" in r for r in results)
            assert any("confines the file tools" in r for r in results)
        else:
            assert any("INSIDE_OK_7" in r for r in results)


def test_api_code_runs_the_agent_with_read_only_tools(shipped, mock):
    served, root = shipped
    answer = httpx.post(
        served.url + "/api/code", json={"prompt": "what is here?", "working_dir": "app"}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"] == "MOCK_REPLY[claude-sonnet-5-5]: what is here?"
    [request] = mock.messages_requests()
    tools = {tool["name"] for tool in request.body["tools"]}
    assert "Read" in tools and not tools & {"Bash", "Write", "Edit"}
    assert str(root / "projects" / "app") in json.dumps(request.body)  # the agent works there


@pytest.mark.parametrize(
    "working_dir", ["..", "../outside", "/etc", "escape", "app/../../outside", "missing"]
)
def test_api_code_refuses_directories_outside_the_allowed_ones(shipped, mock, working_dir):
    served, _ = shipped
    answer = httpx.post(
        served.url + "/api/code", json={"prompt": "x", "working_dir": working_dir}, timeout=60
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "working_dir"
    assert mock.received == []


def test_custom_endpoint_schema_violations_are_listed(shipped, mock):
    served, _ = shipped
    answer = httpx.post(
        served.url + "/api/chat", json={"promt": "typo", "max_tokens": "many"}, timeout=60
    )
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert "$: 'prompt' is a required property" in message
    assert "$.max_tokens: 'many' is not of type 'integer'" in message
    assert "'promt' was unexpected" in message
    assert mock.received == []


# --- transforms on their own (an HTTP upstream keeps these fast) ----------------------------

ROUTES = """
version: 1
sinks:
  up:
    kind: http
    base_url: ${MOCK_URL}
    dialect: anthropic.messages
models:
  - name: opus
  - name: sonnet
routes:
  - path: /probe
    dialect: custom
    model: opus
    transforms:
      request: [probe]
      response: [answer]
  - path: /v1/chat/completions
    dialect: openai.chat
    transforms:
      request: [python_rewrite]
  - path: /raw
    dialect: custom
    model: opus
  - path: /redacted/v1/chat/completions
    dialect: openai.chat
    transforms:
      response: [python_redact]
transforms:
  probe:
    template: probe.j2
  answer:
    template: answer.j2
    output_schema: answer.json
  python_rewrite:
    python: rewrite.py:transform
  python_redact:
    python: rewrite.py:redact
access_log:
  enabled: false
"""


@pytest.fixture
def project(tmp_path, write_config, mock, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    (tmp_path / "transforms").mkdir()
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "answer.json").write_text(
        json.dumps(
            {"type": "object", "required": ["reply"], "properties": {"reply": {"type": "string"}}}
        )
    )
    (tmp_path / "transforms" / "answer.j2").write_text('{"reply": {{ payload.text | json }}}')
    (tmp_path / "transforms" / "rewrite.py").write_text(
        "async def transform(payload, context):\n"
        "    payload['system'] = 'rewritten for ' + context.route\n"
        "    return payload\n"
        "def redact(payload, context):\n"
        "    return dict(payload, content=[{'type': 'text', 'text': 'REDACTED'}])\n"
    )

    def with_probe(template: str):
        (tmp_path / "transforms" / "probe.j2").write_text(template)
        return write_config(ROUTES)

    return with_probe


OK_PROBE = '{"messages": [{"role": "user", "content": {{ payload.q | json }}}]}'


def test_template_and_python_transforms(project, serve, mock):
    served = serve(project(OK_PROBE))
    answer = httpx.post(served.url + "/probe", json={"q": 'quotes " and \\ and ünïcode'})
    assert answer.json() == {"reply": 'MOCK_REPLY[opus]: quotes " and \\ and ünïcode'}
    answer = httpx.post(
        served.url + "/v1/chat/completions",
        json={"model": "sonnet", "messages": [{"role": "user", "content": "x"}]},
    )
    assert answer.status_code == 200
    assert mock.received[-1].body["system"] == "rewritten for /v1/chat/completions"


@pytest.mark.parametrize(
    "probe",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ payload.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% set x = payload.update({'a': 1}) %}{}",
        "{{ context.headers.__class__.__base__.__subclasses__() }}",
    ],
)
def test_sandbox_escapes_fail_and_name_the_transform(project, serve, mock, probe):
    served = serve(project(probe))
    answer = httpx.post(served.url + "/probe", json={"q": "x"})
    assert answer.status_code == 500
    message = answer.json()["error"]["message"]
    assert message.startswith("The transform 'probe' failed: SecurityError: access to attribute")
    assert "is unsafe" in message
    assert mock.received == []


def test_template_runtime_error_is_a_500_naming_the_transform(project, serve):
    served = serve(
        project('{"messages": [{"role": "user", "content": {{ payload.missing.deeper | json }}}]}')
    )
    answer = httpx.post(served.url + "/probe", json={"q": "x"})
    assert answer.status_code == 500
    assert "The transform 'probe' failed: UndefinedError" in answer.json()["error"]["message"]


def test_output_that_breaks_its_schema_is_a_500(project, serve, tmp_path):
    served = serve(project(OK_PROBE))
    (tmp_path / "transforms" / "answer.j2").write_text('{"wrong": 1}')
    served.call(served.app.ctx.reloader.reload("test"))
    answer = httpx.post(served.url + "/probe", json={"q": "x"})
    assert answer.status_code == 500
    assert (
        "The transform 'answer' produced output that does not match its schema"
        in answer.json()["error"]["message"]
    )


def test_template_syntax_error_is_reported_by_check(project, capsys):
    path = project('{"messages": {{ payload.q | json }')
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "transforms.probe.template: transforms/probe.j2:1:" in err


def test_missing_schema_is_reported_with_its_line(project, tmp_path, capsys):
    path = project(OK_PROBE)
    (tmp_path / "schemas" / "answer.json").unlink()
    assert main(["check", str(path)]) == 1
    assert (
        f"{path}:33:20 transforms.answer.output_schema: no schema file schemas/answer.json"
        in capsys.readouterr().err
    )


def test_gateway_try_shows_the_request_and_the_sink_call(project, capsys):
    path = project(OK_PROBE)
    assert main(["try", "/probe", "--data", '{"q": "hello"}', "--config", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["request"]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hello"}]}
    ]
    assert report["model"] == {"requested": "opus", "target": "opus", "sink": "up"}
    assert report["sink_call"]["url"].endswith("/v1/messages")
    assert report["sink_call"]["body"]["messages"][0]["content"][0]["text"] == "hello"


def test_gateway_try_shows_the_cli_invocation(capsys):
    data = json.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
    )
    assert (
        main(["try", "/v1/chat/completions", "--data", data, "--config", str(REPO / "routes.yaml")])
        == 0
    )
    call = json.loads(capsys.readouterr().out)["sink_call"]
    assert call["kind"] == "cli" and call["argv"][call["argv"].index("--model") + 1] == "opus"
    assert json.loads(call["env"]["CLAUDE_CODE_EXTRA_BODY"])["temperature"] == 0.5
    assert call["stdin"][-1]["message"]["content"] == [{"type": "text", "text": "hi"}]


def test_examples_transforms_are_valid():
    for routes in sorted((REPO / "examples").glob("*/routes.yaml")):
        load_config(routes)


def test_reload_keeps_old_config_on_error_then_applies_a_fix(project, serve, tmp_path):
    served = serve(project(OK_PROBE))
    shutil.copy(tmp_path / "routes.yaml", tmp_path / "good.yaml")
    (tmp_path / "routes.yaml").write_text(ROUTES.replace("dialect: custom", "dialect: nonsense"))
    assert served.call(served.app.ctx.reloader.reload("test")) is False
    assert "routes[0].dialect: 'nonsense' is not one of" in served.app.ctx.reloader.last_problems[0]
    assert httpx.post(served.url + "/probe", json={"q": "x"}).status_code == 200


def test_custom_route_without_transforms_speaks_the_neutral_json(project, serve):
    served = serve(project(OK_PROBE))
    answer = httpx.post(
        served.url + "/raw", json={"messages": [{"role": "user", "content": "neutral"}]}
    )
    assert answer.status_code == 200
    assert (
        answer.json()["text"] == "MOCK_REPLY[opus]: neutral"
        and answer.json()["usage"]["output_tokens"] == 7
    )


def test_response_transforms_apply_and_refuse_streams(project, serve):
    served = serve(project(OK_PROBE))
    body = {"model": "opus", "messages": [{"role": "user", "content": "secret text"}]}
    answer = httpx.post(served.url + "/redacted/v1/chat/completions", json=body)
    assert answer.json()["choices"][0]["message"]["content"] == "REDACTED"
    refused = httpx.post(
        served.url + "/redacted/v1/chat/completions", json={**body, "stream": True}
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "stream"


def test_a_transform_that_builds_a_bad_request_is_a_500(project, serve):
    served = serve(project('{"messages": [{"role": "robot", "content": "x"}]}'))
    answer = httpx.post(served.url + "/probe", json={"q": "x"})
    assert answer.status_code == 500
    assert (
        "The request transforms of /probe produced an invalid request"
        in answer.json()["error"]["message"]
    )


def test_transforms_keep_options_without_a_neutral_form(project, capsys):
    path = project(OK_PROBE)
    data = json.dumps(
        {
            "model": "sonnet",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{"name": "t", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        }
    )
    routes = path.read_text().replace(
        "  - path: /raw\n",
        "  - path: /v1/messages\n    dialect: anthropic.messages\n    transforms:\n      request: [python_rewrite]\n  - path: /raw\n",
    )
    path.write_text(routes)
    assert main(["try", "/v1/messages", "--data", data, "--config", str(path)]) == 0
    body = json.loads(capsys.readouterr().out)["sink_call"]["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["system"] == "rewritten for /v1/messages"


def test_gateway_try_says_it_reads_no_stored_responses(capsys):
    config = ["--config", str(REPO / "routes.yaml")]
    data = json.dumps({"model": "sonnet", "input": "hi", "previous_response_id": "resp_1"})
    assert main(["try", "/v1/responses", "--data", data, *config]) == 1
    error = json.loads(capsys.readouterr().out)["error"]["body"]["error"]
    assert "`gateway try` reads no stored responses" in error["message"]
    data = json.dumps({"model": "sonnet", "input": "hi", "store": True})
    assert main(["try", "/v1/responses", "--data", data, *config]) == 0
    call = json.loads(capsys.readouterr().out)["sink_call"]
    assert call["stdin"][-1]["message"]["content"] == [{"type": "text", "text": "hi"}]
