"""Who may open the dashboard, and what its cookie holds (issue 25, rows 5, 8 and 11).

- Row 5: without a token, the loopback-only rule judges the client's address as the rest of the
  gateway does behind trusted proxies (``X-Forwarded-For``), not the proxy's socket.
- Row 11: the cookie is a signed, expiring session naming the key that logged in, never the
  credential; a session ends when its key leaves routes.yaml.
- Row 8: ``/dashboard/data`` answers while the ledger's database is locked, with what it has.
"""

from __future__ import annotations

import base64
import json
import threading
import time

import anthropic
import httpx
import psycopg
import pytest
from postgres_server import PostgresServer
from waiting import wait_until

from gateway.config import load_config
from gateway.endpoints.dashboard import pages, session
from gateway.hookspecs import hookimpl
from gateway.server.plugins import build_plugin_manager
from gateway.teams.keys import hash_key

TOKEN = "dashboard-access-token"
ALICE = "gw-alice-key-for-the-dashboard"
ROUTES = """
version: 1
sinks:
  up: {kind: http, base_url: "${MOCK_URL}", dialect: anthropic.messages}
models:
  - name: opus
routes:
  - path: /v1/messages
    dialect: anthropic.messages
access_log:
  enabled: false
"""
WITH_KEYS = (
    ROUTES
    + f"""
auth:
  token: {TOKEN}
  keys:
    - {{name: alice, hash: "{hash_key(ALICE)}"}}
"""
)


class KeyNames:
    """Records the key each request was accepted as (what issue 29's roles derive from)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    @hookimpl
    def gateway_request_finished(self, exchange):
        self.seen.append((exchange.path, exchange.key_name))


@pytest.fixture
def keyed(mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    path = write_config(WITH_KEYS)
    config = load_config(path)
    plugins = build_plugin_manager(config)
    names = KeyNames()
    plugins.register(names)
    served = serve(config, plugins=plugins)
    served.path, served.names = path, names
    return served


def _payload(cookie: str) -> dict:
    body = cookie.partition(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _login(url: str, credential: str) -> httpx.Response:
    answer = httpx.post(url + "/dashboard/login", data={"token": credential})
    assert answer.status_code == 303, answer.text
    return answer


def test_without_a_token_a_forwarded_remote_client_is_refused(
    mock, serve, write_config, monkeypatch
):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    served = serve(write_config(ROUTES + "server:\n  trusted_proxies: [127.0.0.1]\n"))
    remote = httpx.get(served.url + "/dashboard/data", headers={"x-forwarded-for": "203.0.113.9"})
    assert remote.status_code == 403, remote.text
    assert "this machine only" in remote.json()["error"]["message"]
    local = httpx.get(served.url + "/dashboard/data", headers={"x-forwarded-for": "127.0.0.1"})
    assert local.status_code == 200


def test_the_cookie_is_a_signed_session_naming_the_key_not_the_credential(keyed):
    cookie = _login(keyed.url, ALICE).cookies["gateway_dashboard"]
    assert ALICE not in cookie and TOKEN not in cookie
    payload = _payload(cookie)
    assert (payload["key"], payload["kind"]) == ("alice", "key")
    assert 0 < payload["exp"] - time.time() <= session.LIFETIME
    data = httpx.get(keyed.url + "/dashboard/data", cookies={"gateway_dashboard": cookie})
    assert data.status_code == 200
    # The session's identity, as the request-finished hooks (run after the answer) see it.
    seen = ("/dashboard/data", "alice")
    wait_until(lambda: seen in keyed.names.seen, "the hook's record of the data request")
    # The token's session names no key.
    token_cookie = _login(keyed.url, TOKEN).cookies["gateway_dashboard"]
    assert _payload(token_cookie)["key"] is None and TOKEN not in token_cookie
    # The credential itself, as the old cookie held it, opens nothing.
    raw = httpx.get(keyed.url + "/dashboard/data", cookies={"gateway_dashboard": ALICE})
    assert raw.status_code == 401


def test_a_forged_expired_or_orphaned_session_is_refused(keyed):
    cookie = _login(keyed.url, ALICE).cookies["gateway_dashboard"]
    body, _, signature = cookie.partition(".")
    forged = json.dumps({**_payload(cookie), "key": None, "kind": "token"}).encode()
    forged_body = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    secret = keyed.app.ctx.session_secret
    expired = session.issue(secret, ALICE, "alice", "key", now=time.time() - session.LIFETIME - 1)
    for bad in (f"{forged_body}.{signature}", f"{body}.{signature[:-2]}", expired, body):
        answer = httpx.get(keyed.url + "/dashboard/data", cookies={"gateway_dashboard": bad})
        assert answer.status_code == 401, bad
    page = httpx.get(keyed.url + "/dashboard", cookies={"gateway_dashboard": expired})
    assert page.status_code == 401 and "session has ended" in page.text
    # Alice's key leaves routes.yaml: her session ends with it.
    assert httpx.get(
        keyed.url + "/dashboard/data", cookies={"gateway_dashboard": cookie}
    ).is_success
    keyed.path.write_text(WITH_KEYS.split("  keys:")[0])
    assert keyed.call(keyed.app.ctx.reloader.reload("test")) is True
    gone = httpx.get(keyed.url + "/dashboard/data", cookies={"gateway_dashboard": cookie})
    assert gone.status_code == 401


def test_the_data_answers_while_the_ledger_table_is_locked(mock, serve, write_config, monkeypatch):
    """The probe locked the PostgreSQL table for 15 s and the call took 11.8 s, flushing first
    without a bound. Here the lock is held until the answer has come."""
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setattr(pages, "_FLUSH_WAIT", 0.2)
    monkeypatch.setattr(pages, "_QUERY_WAIT", 0.5)
    server = PostgresServer().start()
    locker = psycopg.connect(server.url)
    try:
        text = ROUTES + f"usage:\n  url: {server.url}\n  flush_interval: 60\n"
        served = serve(write_config(text))
        client = anthropic.Anthropic(base_url=served.url, api_key="k", max_retries=0)
        hello = [{"role": "user", "content": "hello"}]
        client.messages.create(model="opus", max_tokens=5, messages=hello)
        first = httpx.get(served.url + "/dashboard/data", timeout=30).json()
        assert first["usage"]["totals"]["requests"] == 1  # flushed, the table exists

        locker.execute("LOCK TABLE gateway_requests IN ACCESS EXCLUSIVE MODE")
        client.messages.create(model="opus", max_tokens=5, messages=hello)
        answered = threading.Event()
        try:
            locked = httpx.get(served.url + "/dashboard/data", timeout=60)
            answered.set()
        finally:
            locker.rollback()  # the lock ends with the transaction
        assert answered.is_set() and locked.status_code == 200
        data = locked.json()
        assert data["usage"] is None and data["ledger"]["pending"] == 1
        assert "did not answer within 0.5 s" in data["ledger"]["error"]
        served.stop()  # the pending row is written once the lock is gone
        with psycopg.connect(server.url) as connection:
            count = connection.execute("SELECT COUNT(*) FROM gateway_requests").fetchone()
        assert count == (2,)
    finally:
        locker.close()
        server.stop()
