"""Token auth (both headers, wrong token, no token), plugins, and an access log without content."""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import openai
import pytest
from waiting import wait_until

from gateway import hookspecs
from gateway.commands.main import main

ROUTES = """
version: 1
sinks:
  up:
    kind: http
    base_url: ${MOCK_URL}
    dialect: anthropic.messages
    headers:
      x-api-key: ${UPSTREAM_KEY}
models:
  - name: opus
    aliases: [gpt-4o]
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
auth:
  token: ${GATEWAY_TOKEN:-}
access_log:
  path: ${LOG_PATH}
"""

SECRET_TEXT = "my-private-medical-question"


@pytest.fixture
def env(mock, monkeypatch, tmp_path):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setenv("UPSTREAM_KEY", "upstream-secret")
    monkeypatch.setenv("LOG_PATH", str(tmp_path / "access.log"))
    return tmp_path / "access.log"


@pytest.fixture
def guarded(env, serve, write_config, monkeypatch):
    monkeypatch.setenv("GATEWAY_TOKEN", "s3cret-token")
    return serve(write_config(ROUTES))


def test_token_accepted_as_x_api_key(guarded):
    client = anthropic.Anthropic(base_url=guarded.url, api_key="s3cret-token", max_retries=0)
    message = client.messages.create(
        model="opus", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text.endswith("hi")


def test_token_accepted_as_bearer(guarded):
    client = openai.OpenAI(base_url=guarded.url + "/v1", api_key="s3cret-token", max_retries=0)
    answer = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content.endswith("hi")
    assert [m.id for m in client.models.list()] == ["opus", "gpt-4o"]


def test_wrong_token_is_401_in_each_dialect(guarded, mock):
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(
            base_url=guarded.url + "/v1", api_key="wrong", max_retries=0
        ).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["code"] == "invalid_api_key"
    with pytest.raises(anthropic.AuthenticationError) as caught_a:
        anthropic.Anthropic(base_url=guarded.url, api_key="wrong", max_retries=0).messages.create(
            model="opus", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught_a.value.body["error"]["type"] == "authentication_error"
    assert mock.received == []


def test_missing_token_is_401(guarded):
    response = httpx.post(guarded.url + "/v1/chat/completions", json={"model": "gpt-4o"})
    assert response.status_code == 401
    assert "requires a token" in response.json()["error"]["message"]
    models = httpx.get(guarded.url + "/v1/models", headers={"anthropic-version": "2023-06-01"})
    assert models.status_code == 401 and models.json()["type"] == "error"


def test_health_needs_no_token(guarded):
    assert httpx.get(guarded.url + "/health").json()["status"] == "ok"


def test_access_log_has_the_envelope_and_never_the_text(env, guarded, mock):
    client = openai.OpenAI(base_url=guarded.url + "/v1", api_key="s3cret-token", max_retries=0)
    client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": SECRET_TEXT}]
    )
    list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": SECRET_TEXT},
                {"role": "user", "content": SECRET_TEXT},
            ],
            stream=True,
        )
    )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=guarded.url + "/v1", api_key="bad", max_retries=0
        ).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": SECRET_TEXT}]
        )
    deadline = time.monotonic() + 5  # the log is flushed twice a second
    while len(env.read_text().splitlines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    text = env.read_text()
    assert SECRET_TEXT not in text and "s3cret-token" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["status"] for line in lines] == [200, 200, 401]
    first = lines[0]
    assert first["model"] == "gpt-4o" and first["target_model"] == "opus" and first["sink"] == "up"
    assert first["usage"]["input_tokens"] == 11 and first["usage"]["output_tokens"] == 7
    assert first["latency_ms"] > 0 and first["route"] == "/v1/chat/completions"
    assert lines[1]["stream"] is True and lines[1]["ttfb_ms"] > 0
    assert lines[2]["error"] == "authentication_error"
    # The mock did receive the text: the log leaves it out, the request does not.
    assert SECRET_TEXT in json.dumps(mock.received[0].body)


def test_a_plugin_can_reject_and_observe(env, serve, write_config):
    from gateway.config import load_config
    from gateway.errors import AuthenticationFailed
    from gateway.server.plugins import build_plugin_manager

    seen = []

    class OnlyAlice:
        @hookspecs.hookimpl
        async def gateway_authenticate(self, exchange):
            if exchange.headers.get("x-user") != "alice":
                raise AuthenticationFailed("only alice may use this gateway")
            return {"user": "alice"}

        @hookspecs.hookimpl
        def gateway_request_finished(self, exchange):
            seen.append((exchange.identity, exchange.status))

    config = load_config(write_config(ROUTES))
    pm = build_plugin_manager(config)
    pm.register(OnlyAlice())
    gateway = serve(config, plugins=pm)
    body = {"model": "opus", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    refused = httpx.post(
        gateway.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
    )
    assert refused.status_code == 401
    assert refused.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "only alice may use this gateway"},
    }
    accepted = httpx.post(gateway.url + "/v1/messages", json=body, headers={"x-user": "alice"})
    assert accepted.status_code == 200
    # The hook runs once the answer is out: wait for it rather than race it.
    wait_until(lambda: len(seen) == 2, "the second request-finished hook")
    assert seen == [(None, 401), ({"user": "alice"}, 200)]


def test_the_answer_is_out_before_the_request_finished_hooks_run(env, serve, write_config):
    """A slow request-finished hook (a remote log, a database) must not hold the client's
    answer: each hook here waits until the client has read its answer, which only an answer
    sent before the hook runs allows within the hook's 30 s."""
    import asyncio
    import threading

    from gateway.config import load_config
    from gateway.server.plugins import build_plugin_manager

    answered = [threading.Event(), threading.Event()]  # one per request, in order
    waited: list[bool] = []

    class WaitsForTheClient:
        @hookspecs.hookimpl
        async def gateway_request_finished(self, exchange):
            client_has_it = answered[len(waited)]
            waited.append(await asyncio.to_thread(client_has_it.wait, 30))

    config = load_config(write_config(ROUTES))
    pm = build_plugin_manager(config)
    pm.register(WaitsForTheClient())
    gateway = serve(config, plugins=pm)
    client = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    reply = client.messages.create(
        model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    answered[0].set()
    assert reply.content[0].text
    error = httpx.post(gateway.url + "/v1/messages", json={"model": "opus"}, timeout=10)
    answered[1].set()
    assert error.status_code == 400  # an error goes out first too
    wait_until(lambda: len(waited) == 2, "both request-finished hooks to end")
    assert waited == [True, True]


def test_local_plugins_load_from_hooks_dir(env, serve, write_config, tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "stamp.py").write_text(
        "from gateway.hookspecs import hookimpl\n"
        "FINISHED = []\n"
        "@hookimpl\n"
        "def gateway_request_finished(exchange):\n"
        "    FINISHED.append(exchange.path)\n"
    )
    gateway = serve(write_config(ROUTES))
    httpx.get(gateway.url + "/health")
    module = next(
        p
        for p in gateway.app.ctx.runtimes.current.plugins.get_plugins()
        if getattr(p, "FINISHED", None) is not None
    )
    wait_until(lambda: module.FINISHED, "the plugin's request-finished hook")
    assert module.FINISHED == ["/health"]


def test_misspelled_hook_fails_loudly(env, write_config, tmp_path, capsys):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "typo.py").write_text(
        "from gateway.hookspecs import hookimpl\n@hookimpl\ndef gateway_request_finised(exchange):\n    pass\n"
    )
    assert main(["check", str(write_config(ROUTES))]) == 1
    assert "gateway_request_finised" in capsys.readouterr().err


def test_non_loopback_without_token_refuses_to_start(env, write_config, capsys):
    path = write_config(ROUTES)
    assert main(["serve", "--config", str(path), "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "Refusing to serve 0.0.0.0 without a token" in capsys.readouterr().err


def test_every_hookspec_is_documented():
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "hooks.md").read_text()
    specs = [name for name in dir(hookspecs) if name.startswith("gateway_")]
    assert specs
    for name in specs:
        assert f"## {name}" in docs, name


def test_without_a_token_only_local_names_are_served(env, serve, write_config):
    """DNS rebinding (a foreign Host) and cross-site forms (a foreign Origin) are refused."""
    gateway = serve(write_config(ROUTES))
    body = {"model": "opus", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    assert httpx.post(gateway.url + "/v1/messages", json=body).status_code == 200
    assert (
        httpx.post(
            gateway.url + "/v1/messages", json=body, headers={"host": f"localhost:{gateway.port}"}
        ).status_code
        == 200
    )
    rebound = httpx.post(
        gateway.url + "/v1/messages", json=body, headers={"host": f"evil.example:{gateway.port}"}
    )
    assert rebound.status_code == 403 and "Host: evil.example" in rebound.json()["error"]["message"]
    cross_site = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=json.dumps(body),
        headers={"origin": "http://evil.example", "content-type": "text/plain"},
    )
    assert (
        cross_site.status_code == 403 and cross_site.json()["error"]["type"] == "permission_error"
    )


def test_with_a_token_other_names_are_fine(guarded):
    answer = httpx.get(
        guarded.url + "/v1/models",
        headers={"host": "gateway.internal", "x-api-key": "s3cret-token"},
    )
    assert answer.status_code == 200


def test_a_key_that_is_not_utf8_is_a_401(guarded):
    from test_errors import raw_request

    body = b'{"model":"opus","max_tokens":5,"messages":[{"role":"user","content":"x"}]}'
    head = b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: \xff\xfe\r\ncontent-type: application/json\r\n"
    status, answer = raw_request(guarded.port, head, body)
    assert status == 401 and json.loads(answer)["error"]["type"] == "authentication_error"


def test_a_named_key_keeps_its_limits_when_another_plugin_also_accepts(
    serve, write_config, tmp_path, mock
):
    """The docs' example plugin accepts with a value of its own; the key's routes and models
    still apply (the first Identity any hook answers is the one that counts)."""
    from gateway.teams.keys import hash_key, new_key

    bob = new_key()
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "only_my_team.py").write_text(
        "from gateway.errors import AuthenticationFailed\n"
        "from gateway.hookspecs import hookimpl\n"
        "@hookimpl\n"
        "async def gateway_authenticate(exchange):\n"
        "    if exchange.headers.get('x-team') != 'platform':\n"
        "        raise AuthenticationFailed('this gateway serves the platform team only')\n"
        "    return {'team': 'platform'}\n"
    )
    gateway = serve(
        write_config(
            f"""
            version: 1
            sinks:
              up: {{kind: http, base_url: "{mock.base_url}", dialect: anthropic.messages}}
            models: [{{name: opus}}, {{name: haiku}}]
            routes:
              - {{path: /v1/messages, dialect: anthropic.messages}}
              - {{path: /v1/chat/completions, dialect: openai.chat}}
            auth:
              keys:
                - {{name: bob, hash: "{hash_key(bob)}", models: [opus], routes: [/v1/messages]}}
            """
        )
    )
    headers = {"x-api-key": bob, "x-team": "platform"}
    body = {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    allowed = httpx.post(
        gateway.url + "/v1/messages", headers=headers, json={"model": "opus", **body}
    )
    assert allowed.status_code == 200
    other_model = httpx.post(
        gateway.url + "/v1/messages", headers=headers, json={"model": "haiku", **body}
    )
    assert other_model.status_code == 403 and "may not use the model 'haiku'" in other_model.text
    other_route = httpx.post(
        gateway.url + "/v1/chat/completions", headers=headers, json={"model": "opus", **body}
    )
    assert (
        other_route.status_code == 403 and "may not call /v1/chat/completions" in other_route.text
    )
