"""Named keys in one process: who may call what, the limits of each key, the headers the real
SDKs read, and a reload that changes the keys. One gateway serves the whole module."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from metrics_text import value
from mock_upstream import MockUpstream, Reply
from server import ServedApp
from waiting import wait_until

from gateway.app import create_app
from gateway.commands.main import main
from gateway.config import load_config
from gateway.config.yaml_source import ConfigError
from gateway.teams.keys import ClientKey, hash_key, new_key
from gateway.teams.memory_state import MemoryState
from gateway.teams.rate_headers import duration

KEYS = {
    name: new_key()
    for name in ("alice", "amy", "bob", "carol", "dave", "erin", "frank", "gina", "hana")
}
TOKEN = "team-token"


def _entry(name: str, **limits: object) -> str:
    fields = "".join(f", {k}: {json.dumps(v)}" for k, v in limits.items())
    return f'    - {{name: {name}, hash: "{hash_key(KEYS[name])}"{fields}}}\n'


ROUTES = """\
version: 1
sinks:
  up: {{kind: http, base_url: "{url}", dialect: anthropic.messages, headers: {{x-api-key: up}}}}
models:
  - name: opus
    aliases: [gpt-4o]
  - name: haiku
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
  - {{path: /v1/chat/completions, dialect: openai.chat}}
auth:
  token: {token}
  keys_file: keys.yaml
  keys:
{keys}state:
  window_seconds: 3600
access_log:
  path: {log}
"""
INLINE = (
    _entry("alice", requests_per_minute=3)
    + _entry("amy", requests_per_minute=2)
    + _entry("bob", models=["opus", "claude-*"], routes=["/v1/messages"])
    + _entry("carol", concurrency=1)
    + _entry("dave", tokens_per_minute=20)
    + _entry("gina", models=["opus", "claude-*"])
    + _entry("hana", tokens_per_minute=10)
)


@pytest.fixture(scope="module")
def gateway(
    upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApp]:
    base = tmp_path_factory.mktemp("keys")
    (base / "keys.yaml").write_text("keys:\n" + _entry("erin"), encoding="utf-8")
    routes = ROUTES.format(url=upstream.base_url, token=TOKEN, keys=INLINE, log=base / "access.log")
    (base / "routes.yaml").write_text(routes, encoding="utf-8")
    app = create_app(load_config(base / "routes.yaml"), name="keys_module")
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    served.base = base  # type: ignore[attr-defined]
    yield served
    served.stop()


def _openai(gateway: ServedApp, key: str, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=retries)


def _anthropic(gateway: ServedApp, key: str, retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=retries)


def _chat(client: openai.OpenAI, text: str = "hi", model: str = "gpt-4o"):
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )


def _message(client: anthropic.Anthropic, text: str = "hi", model: str = "opus"):
    return client.messages.with_raw_response.create(
        model=model, max_tokens=5, messages=[{"role": "user", "content": text}]
    )


def _refused(gateway: ServedApp, key: str) -> float:
    metrics = httpx.get(gateway.url + "/metrics", headers={"x-api-key": TOKEN}).text
    return sum(
        value(metrics, "gateway_requests_total", route=route, sink="", status="429", key=key)
        for route in ("/v1/messages", "/v1/chat/completions")
    )


def test_token_and_keys_are_accepted_and_the_log_names_the_key_only(gateway, mock):
    assert _chat(_openai(gateway, TOKEN)).parse().choices[0].message.content.endswith("hi")
    assert _message(_anthropic(gateway, KEYS["erin"]), "from-erin").parse().content[0].text
    log = Path(gateway.base) / "access.log"
    lines = wait_until(
        lambda: [json.loads(x) for x in log.read_text().splitlines() if '"erin"' in x],
        "the access log line of erin's request",
    )
    assert lines[0]["key"] == "erin" and lines[0]["status"] == 200
    text = log.read_text()
    assert all(key not in text for key in KEYS.values()) and TOKEN not in text
    assert any(json.loads(x)["key"] is None for x in text.splitlines())


def test_an_unknown_key_is_401_in_each_dialect(gateway):
    with pytest.raises(openai.AuthenticationError) as caught:
        _chat(_openai(gateway, "gw-not-a-key"))
    assert caught.value.body["code"] == "invalid_api_key"
    with pytest.raises(anthropic.AuthenticationError):
        _message(_anthropic(gateway, hash_key(KEYS["alice"])))  # the hash is not the key


def test_a_key_keeps_to_its_models_and_routes(gateway):
    assert _message(_anthropic(gateway, KEYS["bob"]), model="opus").status_code == 200
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        _message(_anthropic(gateway, KEYS["bob"]), model="haiku")
    assert "may not use the model 'haiku'" in caught.value.message
    with pytest.raises(openai.PermissionDeniedError) as denied:
        _chat(_openai(gateway, KEYS["bob"]))
    assert denied.value.body["code"] == "route_not_allowed"
    # A key lists only the models it may use (gpt-4o is a name of its own, not matched).
    assert [m.id for m in _openai(gateway, KEYS["gina"]).models.list()] == ["opus"]
    assert [m.id for m in _openai(gateway, TOKEN).models.list()] == ["opus", "gpt-4o", "haiku"]


def test_requests_per_window_openai_headers_and_a_429_the_sdk_does_not_retry(gateway):
    client = _openai(gateway, KEYS["alice"], retries=2)
    remaining = []
    for _ in range(3):
        raw = _chat(client)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        reset = raw.headers["x-ratelimit-reset-requests"]
        assert reset == "1h0m0s" or reset.startswith("59m"), reset
        assert "x-ratelimit-limit-tokens" not in raw.headers
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as caught:
        _chat(client)
    assert caught.value.status_code == 429
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert caught.value.body["type"] in ("rate_limit_error", "requests")
    headers = caught.value.response.headers
    assert 3500 < int(headers["retry-after"]) <= 3600
    assert headers["x-ratelimit-remaining-requests"] == "0"
    # The openai SDK does not wait out a Retry-After over two minutes: one attempt only.
    assert _refused(gateway, "alice") == 1


def test_requests_per_window_anthropic_headers_streams_too(gateway):
    client = _anthropic(gateway, KEYS["amy"])
    raw = _message(client)
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "1"
    reset = raw.headers["anthropic-ratelimit-requests-reset"]
    assert reset.endswith("Z") and time.strptime(reset, "%Y-%m-%dT%H:%M:%SZ")
    with client.messages.with_streaming_response.create(
        model="opus", max_tokens=5, stream=True, messages=[{"role": "user", "content": "s"}]
    ) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert streamed.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert b"message_stop" in b"".join(streamed.iter_bytes())
    with pytest.raises(anthropic.RateLimitError) as caught:
        _message(client)
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert int(caught.value.response.headers["retry-after"]) > 3500


def test_tokens_per_window_count_the_answers_usage(gateway):
    client = _openai(gateway, KEYS["dave"])
    first = _chat(client)  # the mock reports 11 input + 7 output tokens
    assert first.headers["x-ratelimit-remaining-tokens"] == "20"
    second = _chat(client)
    assert second.headers["x-ratelimit-remaining-tokens"] == "2"
    with pytest.raises(openai.RateLimitError) as caught:
        _chat(client)
    assert "20 tokens per minute" in caught.value.message


def test_a_stream_the_client_leaves_early_counts_its_input_tokens(gateway, mock):
    # The input tokens come with the message's start; the client hangs up long before the
    # end brings the totals, and they count against the key all the same.
    mock.when("LEAVE-EARLY", Reply(text="a long answer " * 10, chunks=20, delay=0.05))
    client = _openai(gateway, KEYS["hana"])
    messages = [{"role": "user", "content": "LEAVE-EARLY"}]
    with client.chat.completions.create(model="gpt-4o", messages=messages, stream=True) as stream:
        next(chunk for chunk in stream if chunk.choices and chunk.choices[0].delta.content)
    log = Path(gateway.base) / "access.log"
    line = wait_until(
        lambda: next((json.loads(x) for x in log.read_text().splitlines() if '"hana"' in x), None),
        "the access log line of hana's stream",
    )
    assert line["status"] == 499 and line["usage"]["input_tokens"] == 11
    with pytest.raises(openai.RateLimitError):
        _chat(client)


def test_concurrency_refuses_while_a_request_runs_and_the_sdk_retries(gateway, mock):
    gate = threading.Event()
    mock.when("HOLD-carol", Reply(text="held", gate=gate))
    held: list[int] = []
    holder = threading.Thread(
        target=lambda: held.append(
            _message(_anthropic(gateway, KEYS["carol"]), "HOLD-carol").status_code
        )
    )
    holder.start()
    try:
        wait_until(
            lambda: any("HOLD-carol" in r.raw.decode() for r in mock.received), "the held request"
        )
        with pytest.raises(anthropic.RateLimitError) as caught:
            _message(_anthropic(gateway, KEYS["carol"], retries=1))
        assert caught.value.response.headers["retry-after"] == "1"
        assert "1 requests at once" in caught.value.message
        assert _refused(gateway, "carol") == 2  # the anthropic SDK retried once, as told
    finally:
        gate.set()
        holder.join(30)
    assert held == [200]
    assert _message(_anthropic(gateway, KEYS["carol"])).status_code == 200


def test_a_reload_applies_changed_keys_and_keeps_the_counters(gateway):
    with pytest.raises(anthropic.AuthenticationError):
        _message(_anthropic(gateway, KEYS["frank"]))
    keys_file = Path(gateway.base) / "keys.yaml"
    keys_file.write_text("keys:\n" + _entry("frank", requests_per_minute=1), encoding="utf-8")
    assert gateway.call(gateway.app.ctx.reloader.reload("test"))
    assert _message(_anthropic(gateway, KEYS["frank"])).status_code == 200
    with pytest.raises(anthropic.AuthenticationError):
        _message(_anthropic(gateway, KEYS["erin"]))  # gone from the file
    keys_file.write_text(
        "keys:\n" + _entry("frank", requests_per_minute=1) + _entry("erin"), encoding="utf-8"
    )
    assert gateway.call(gateway.app.ctx.reloader.reload("test"))
    assert _message(_anthropic(gateway, KEYS["erin"])).status_code == 200
    # frank used his one request before this reload; the window still holds it.
    with pytest.raises(anthropic.RateLimitError):
        _message(_anthropic(gateway, KEYS["frank"]))


def test_status_shows_where_limits_are_counted(gateway):
    status = httpx.get(gateway.url + "/status", headers={"x-api-key": TOKEN}).json()
    assert status["limits"]["backend"] == "memory"
    assert status["limits"]["reachable"] is True
    assert "alice" in status["limits"]["keys"]


def test_a_window_starts_at_the_first_request_and_ends_after_its_length():
    now = [100.0]
    state = MemoryState(window=60, clock=lambda: now[0])
    key = ClientKey("k", b"", requests_per_minute=2)

    def admit(ticket: str):
        return asyncio.run(state.admit(key, ticket))

    assert admit("1").requests_reset == 60
    now[0] = 130.0
    assert admit("2").requests == 2
    refused = admit("3")
    assert refused.refused == "requests" and refused.requests_reset == 30
    now[0] = 160.0  # the window that began at 100 is over
    assert admit("4").admitted


def test_durations_read_like_openai_resets():
    assert [duration(s) for s in (0.25, 1.5, 12, 360, 3599.2, 3600)] == [
        "250ms", "1.5s", "12s", "6m0s", "59m59s", "1h0m0s",
    ]  # fmt: skip


def test_gateway_token_name_prints_a_key_and_its_entry(capsys):
    assert main(["token", "--name", "zoe"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("gw-") and f'hash: "{hash_key(key)}"' in err and "name: zoe" in err


def test_key_problems_are_reported_at_their_line(tmp_path, upstream):
    duplicate = _entry("alice") + _entry("alice").replace(hash_key(KEYS["alice"]), hash_key("x"))
    bad = '    - {name: bad, hash: "md5:abc"}\n'
    routes = ROUTES.format(url=upstream.base_url, token="t", keys=duplicate + bad, log='"-"')
    (tmp_path / "routes.yaml").write_text(routes, encoding="utf-8")
    (tmp_path / "keys.yaml").write_text("keys:\n" + _entry("alice"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "routes.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any("routes.yaml:" in m and "auth.keys[2].hash" in m for m in messages), messages
    (tmp_path / "routes.yaml").write_text(routes.replace(bad, ""), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "routes.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any("auth.keys[1].name" in m and "already the name" in m for m in messages), messages
    assert any("keys.yaml:2:" in m and "already the name" in m for m in messages), messages
