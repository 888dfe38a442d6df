"""Who sees what on the dashboard, in the real headless Chromium: an admin key sees every key, any
other key its own usage and budget (whatever its routes:); a refused login shows the form with
the reason; the model list follows a key's models:, not its routes:; a browser's icon request
is no usage."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from browser import Browser

from gateway.teams.keys import hash_key, new_key

KEYS = {name: new_key() for name in ("lead", "alice", "bob")}
ROUTES = """
version: 1
sinks:
  up: {{kind: http, base_url: "{upstream}", dialect: anthropic.messages}}
models:
  - name: opus
    target: claude-opus-5-5
  - name: haiku
    target: claude-haiku-5-5
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
auth:
  keys:
    - {{name: lead, hash: "{lead}", admin: true}}
    - {{name: alice, hash: "{alice}", routes: [/v1/messages], models: [opus],
        budget: {{period: day, usd: 5}}}}
    - {{name: bob, hash: "{bob}", budget: {{period: month, tokens: 1000}}}}
usage: {{path: {ledger}}}
access_log: {{enabled: false}}
"""


@pytest.fixture(scope="module")
def browser():
    chromium = Browser().start()
    yield chromium
    chromium.close()


@pytest.fixture
def gateway(serve, write_config, upstream, tmp_path):
    text = ROUTES.format(upstream=upstream.base_url, ledger=tmp_path / "usage.db",
                         **{k: hash_key(v) for k, v in KEYS.items()})  # fmt: skip
    served = serve(write_config(text))
    for name, count in (("alice", 2), ("bob", 3)):
        client = anthropic.Anthropic(base_url=served.url, api_key=KEYS[name], max_retries=0)
        for _ in range(count):
            client.messages.create(model="opus", max_tokens=5,
                                   messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    return served


def _login(browser: Browser, url: str, key: str) -> None:
    browser.clear_cookies()
    browser.navigate(url + "/dashboard")
    browser.wait_for("!!document.getElementById('token')")
    browser.evaluate(f"document.getElementById('token').value = {key!r}; "
                     "document.getElementById('login').submit(); true")  # fmt: skip


def _keys_shown(browser: Browser) -> dict:
    return browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#requests-key li[data-series]')]"
        ".map(e => [e.dataset.series, Number(e.dataset.total)]))"
    )


def test_an_admin_sees_every_key_and_a_key_its_own(gateway, browser):
    # A key limited by routes: still logs in, and sees only itself.
    _login(browser, gateway.url, KEYS["alice"])
    browser.wait_for("document.querySelector('[data-metric=requests]')?.dataset.value === '2'")
    assert _keys_shown(browser) == {"alice": 2}
    assert browser.evaluate("document.getElementById('viewer').textContent") == (
        "your usage (key alice)"
    )
    assert browser.evaluate("document.getElementById('sinks').classList.contains('hidden')")
    assert browser.evaluate(
        "[...document.querySelectorAll('tr[data-request]')].map(r => r.dataset.key)"
    ) == ["alice", "alice"]
    assert browser.evaluate(
        "[...document.querySelectorAll('tr[data-budget]')].map(r => r.dataset.budget)"
    ) == ["key:alice:day"]
    cost = browser.evaluate(
        "Number(document.querySelector('[data-metric=cost_usd]').dataset.value)"
    )
    assert cost == pytest.approx(2 * (11 * 4 + 7 * 20) / 1e6)  # the default price of Opus 5.5

    _login(browser, gateway.url, KEYS["lead"])
    browser.wait_for("document.querySelector('[data-metric=requests]')?.dataset.value === '5'")
    assert _keys_shown(browser) == {"alice": 2, "bob": 3}
    assert not browser.evaluate("document.getElementById('sinks').classList.contains('hidden')")
    assert browser.evaluate(
        "[...document.querySelectorAll('tr[data-budget]')].map(r => r.dataset.budget)"
    ) == ["key:alice:day", "key:bob:month"]
    assert (
        browser.evaluate(
            "document.querySelector('tr[data-budget=\"key:bob:month\"]').dataset.spentTokens"
        )
        == "54"
    )


def test_data_a_refused_login_models_and_icons(gateway, browser):
    client = httpx.Client(base_url=gateway.url)
    assert client.post("/dashboard/login", data={"token": KEYS["bob"]}).status_code == 303
    data = client.get("/dashboard/data?minutes=43200").json()
    assert data["viewer"] == {"key": "bob", "admin": False}
    assert data["usage"]["totals"]["requests"] == 3 and data["sinks"] is None
    assert {r["key"] for r in data["recent"]} == {"bob"}
    assert "location" not in data["ledger"]

    _login(browser, gateway.url, "not-a-key")
    reason = browser.wait_for("document.getElementById('message')?.textContent")
    assert reason == "That token is not accepted by this gateway."

    # alice may call /v1/messages only, and use opus only: she lists what she may use.
    listed = httpx.get(gateway.url + "/v1/models", headers={"x-api-key": KEYS["alice"]})
    assert listed.status_code == 200 and [m["id"] for m in listed.json()["data"]] == ["opus"]

    before = client.get("/dashboard/data").json()["usage"]["totals"]["requests"]
    assert httpx.get(gateway.url + "/favicon.ico").status_code == 204
    after = client.get("/dashboard/data").json()["usage"]
    assert after["totals"]["requests"] == before and after["errors"] == {}


def test_metrics_and_status_name_other_keys_to_admins_only(gateway):
    def get(path: str, key: str) -> httpx.Response:
        return httpx.get(gateway.url + path, headers={"authorization": f"Bearer {key}"})

    refused = get("/metrics", KEYS["bob"])  # bob may call any route, yet is no admin
    assert refused.status_code == 403, refused.text
    assert "admin: true" in refused.json()["error"]["message"]
    assert get("/status", KEYS["bob"]).json()["limits"]["keys"] == ["bob"]
    assert 'key="alice"' in get("/metrics", KEYS["lead"]).text
    assert get("/status", KEYS["lead"]).json()["limits"]["keys"] == ["lead", "alice", "bob"]
