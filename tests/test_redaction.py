"""Secrets in configured URLs (a database's, Redis's, an upstream's) never reach a log line,
/status, the dashboard or a client's error message."""

from __future__ import annotations

import httpx
import pytest

from gateway.ledger.settings import LedgerSettings
from gateway.redaction import shown_url
from gateway.teams.redis_state import RedisState


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://default:hunter2@127.0.0.1:6379/0", "redis://default@127.0.0.1:6379/0"),
        ("redis://:hunter2@cache/1", "redis://@cache/1"),
        (
            "postgresql://gw@db.internal/gateway?password=hunter2&sslmode=require",
            "postgresql://gw@db.internal/gateway?password=redacted&sslmode=require",
        ),
        ("https://api.example/v1?api_key=hunter2", "https://api.example/v1?api_key=redacted"),
        ("http://127.0.0.1:9000/v1", "http://127.0.0.1:9000/v1"),
        # Otherwise as written: a socket directory in the query, an empty host.
        ("postgresql:///db?host=/tmp&password=x", "postgresql:///db?host=/tmp&password=redacted"),
    ],
)
def test_a_shown_url_keeps_no_secret(url, shown):
    assert shown_url(url) == shown


def test_the_ledger_and_redis_show_their_urls_without_secrets():
    url = "postgresql://gw:pw1@db/gateway?sslpassword=pw2"
    assert LedgerSettings(url=url).location == "postgresql://gw@db/gateway?sslpassword=redacted"
    state = RedisState("redis://default:pw3@127.0.0.1:1/0", window=60, lease=30)
    assert "pw3" not in state.shown_url and state.url.endswith("@127.0.0.1:1/0")


def test_an_unreachable_upstream_is_named_without_its_password(serve, write_config):
    config = """
version: 1
sinks:
  up: {kind: http, dialect: anthropic.messages, base_url: "http://user:pw4@127.0.0.1:9/x?key=pw5"}
routes:
  - {path: /v1/messages, dialect: anthropic.messages}
"""
    gateway = serve(write_config(config))
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(gateway.url + "/v1/messages", json=body)
    status = httpx.get(gateway.url + "/status").text
    assert answer.status_code == 502 and "Cannot reach the upstream 'up'" in answer.text
    assert "pw4" not in answer.text + status and "pw5" not in answer.text + status
