"""/dashboard in a real headless Chromium while traffic flows: the login form, live updates,
a screenshot, and the numbers in the page's DOM equal to what the ledger holds."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import anthropic
import httpx
import openai
import pytest
from browser import Browser
from mock_upstream import Reply
from server import ServedApp

from gateway.app import create_app
from gateway.config import load_config
from gateway.endpoints.dashboard.access import authorise
from gateway.errors import PermissionDenied
from gateway.exchange import Exchange, Identity
from gateway.flow.endpoints import Call
from gateway.hookspecs import hookimpl
from gateway.ledger.report import FAILED
from gateway.server.plugins import build_plugin_manager
from gateway.server.runtime import build_runtime

TOKEN = "dashboard-test-token"
ROUTES = """
version: 1
auth:
  token: AUTH_TOKEN
sinks:
  up:
    kind: http
    base_url: MOCK_URL
    dialect: anthropic.messages
models:
  - name: opus
    target: claude-opus-5-5
  - name: haiku
    target: claude-haiku-5-5
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
access_log:
  enabled: false
usage:
  path: LEDGER
"""


class NamedKeys:
    """Stands in for named client keys: the identity of a key named by a header."""

    @hookimpl
    def gateway_authenticate(self, exchange):
        name = exchange.headers.get("x-test-key-name")
        return Identity(name) if name else None


class Gateway(SimpleNamespace):
    url: str
    ledger: Path

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.ledger) as connection:
            return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    ledger = folder / "usage.db"
    text = ROUTES.replace("AUTH_TOKEN", TOKEN).replace("MOCK_URL", upstream.base_url)
    (folder / "routes.yaml").write_text(text.replace("LEDGER", str(ledger)))
    config = load_config(folder / "routes.yaml")
    plugins = build_plugin_manager(config)
    plugins.register(NamedKeys())
    app = create_app(config, plugins=plugins)
    app.config.TOUCHUP = False
    served = ServedApp(app).start()
    upstream.reset()
    upstream.when("fail-me", Reply(error=(529, "overloaded_error", "busy")))
    upstream.when("slow", Reply(text="a b c", input_tokens=40, output_tokens=12,
                                cache_read_input_tokens=300, chunks=4, delay=0.03))  # fmt: skip
    upstream.when("quick", Reply(text="ok", input_tokens=25, output_tokens=6))
    yield Gateway(url=served.url, ledger=ledger)
    served.stop()
    upstream.reset()


@pytest.fixture(scope="module")
def browser():
    chromium = Browser().start()
    yield chromium
    chromium.close()


def _traffic(url: str, count: int, start: int = 0) -> None:
    """Both SDKs, streamed and not, two keys, two models; every 8th refused upstream."""
    clients = {}
    for name in ("alice", "bob"):
        headers = {"x-test-key-name": name}
        clients[name] = (
            openai.OpenAI(
                base_url=url + "/v1", api_key=TOKEN, max_retries=0, default_headers=headers
            ),
            anthropic.Anthropic(
                base_url=url, api_key=TOKEN, max_retries=0, default_headers=headers
            ),
        )
    for i in range(start, start + count):
        chat, messages_api = clients["alice" if i % 3 else "bob"]
        model = "haiku" if i % 2 else "opus"
        text = "fail-me" if i % 8 == 7 else ("slow" if i % 4 == 1 else "quick")
        messages = [{"role": "user", "content": f"{text} {i}"}]
        try:
            if i % 4 == 0:
                list(chat.chat.completions.create(model=model, messages=messages, stream=True))
            elif i % 4 == 1:
                with messages_api.messages.stream(
                    model=model, max_tokens=20, messages=messages
                ) as stream:
                    stream.get_final_message()
            else:
                messages_api.messages.create(model=model, max_tokens=20, messages=messages)
        except (openai.APIStatusError, anthropic.APIStatusError):
            pass


def _dom(browser: Browser, selector: str, key: str) -> dict[str, float]:
    return browser.evaluate(
        f"Object.fromEntries([...document.querySelectorAll({selector!r})]"
        f".map(e => [e.dataset.{key}, Number(e.dataset.total ?? e.dataset.value)]))"
    )


def _bars(browser: Browser, chart: str) -> dict[str, float]:
    """The sum of the bars drawn for each series of a chart."""
    return browser.evaluate(
        f"Object.fromEntries([...document.querySelectorAll('#{chart} g[data-series]')].map(g =>"
        " [g.dataset.series, [...g.querySelectorAll('rect')]"
        ".reduce((t, r) => t + Number(r.dataset.value), 0)]))"
    )


def _shown(browser: Browser, metric: str) -> float:
    return float(
        browser.evaluate(f"document.querySelector('[data-metric={metric}]').dataset.value")
    )


def _login(browser: Browser, url: str) -> None:
    browser.navigate(url + "/dashboard")
    browser.wait_for("!!document.getElementById('token')")
    browser.evaluate(
        f"document.getElementById('token').value = {TOKEN!r}; "
        "document.getElementById('login').submit(); true"
    )
    browser.wait_for("Number(document.getElementById('updated')?.dataset.updates) >= 1")


def test_the_page_shows_the_ledger_live(gateway, browser, tmp_path, upstream):
    _login(browser, gateway.url)
    _traffic(gateway.url, 24)
    browser.wait_for("document.querySelector('[data-metric=requests]').dataset.value === '24'")
    updates = browser.evaluate("Number(document.getElementById('updated').dataset.updates)")

    flowing = threading.Thread(target=_traffic, args=(gateway.url, 24, 24))
    flowing.start()  # the page is not reloaded: what follows comes from its polling
    browser.wait_for("Number(document.querySelector('[data-metric=requests]').dataset.value) > 24")
    browser.screenshot(tmp_path / "while-traffic-flows.png")
    flowing.join(60)
    browser.wait_for("document.querySelector('[data-metric=requests]').dataset.value === '48'")
    assert browser.evaluate("Number(document.getElementById('updated').dataset.updates)") > updates
    picture = browser.screenshot(tmp_path / "dashboard.png", full_page=True)
    assert picture.startswith(b"\x89PNG") and len(picture) > 20_000

    model = "COALESCE(target_model, model, '')"
    tokens = "COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0) + " \
        "COALESCE(cache_read_tokens, 0) + COALESCE(cache_creation_tokens, 0)"  # fmt: skip
    by_model = dict(gateway.rows(f"SELECT {model}, COUNT(*) FROM gateway_requests GROUP BY 1"))
    by_key = dict(
        gateway.rows("SELECT COALESCE(key_name, ''), COUNT(*) FROM gateway_requests GROUP BY 1")
    )
    tokens_by_model = dict(
        gateway.rows(f"SELECT {model}, SUM({tokens}) FROM gateway_requests GROUP BY 1")
    )
    errors = dict(
        gateway.rows(f"SELECT error_kind, COUNT(*) FROM gateway_requests WHERE {FAILED} GROUP BY 1")
    )
    assert sum(by_model.values()) == 48 and set(by_key) == {"alice", "bob"}
    assert set(by_model) == {"claude-opus-5-5", "claude-haiku-5-5"}

    assert _dom(browser, "#requests-model li[data-series]", "series") == by_model
    assert _bars(browser, "requests-model") == by_model
    assert _dom(browser, "#requests-key li[data-series]", "series") == by_key
    assert _dom(browser, "#tokens-model li[data-series]", "series") == tokens_by_model
    assert _bars(browser, "tokens-model") == tokens_by_model
    assert _dom(browser, "#errors tr[data-error]", "error") == errors == {"overloaded_error": 6}
    assert _shown(browser, "requests") == 48
    assert _shown(browser, "total_tokens") == sum(tokens_by_model.values())
    assert _shown(browser, "errors") == 6

    answered = sorted(
        v for (v,) in gateway.rows(f"SELECT latency_ms FROM gateway_requests WHERE NOT {FAILED}")
    )
    first = sorted(
        v
        for (v,) in gateway.rows(
            f"SELECT ttfb_ms FROM gateway_requests WHERE NOT {FAILED} AND ttfb_ms IS NOT NULL"
        )
    )
    for name, values in (("latency", answered), ("ttfb", first)):
        for p in (50, 90, 99):
            expected = round(values[math.ceil(p / 100 * len(values)) - 1], 1)
            assert _shown(browser, f"{name}-p{p}") == expected, (name, p)
    sink = browser.evaluate("document.querySelector('tr[data-sink=up]').innerText")
    assert sink.split("\t")[:3] == ["up", "http", "yes"]

    # A subscription's windows, as the upstream's headers report them, appear by the sink.
    reset = int(time.time()) + 7200
    windows = {"anthropic-ratelimit-unified-status": "allowed",
               "anthropic-ratelimit-unified-5h-utilization": "0.42",
               "anthropic-ratelimit-unified-5h-reset": str(reset)}  # fmt: skip
    upstream.when("windows", Reply(text="ok", headers=windows))
    client = anthropic.Anthropic(base_url=gateway.url, api_key=TOKEN, max_retries=0)
    client.messages.create(
        model="opus", max_tokens=5, messages=[{"role": "user", "content": "windows"}]
    )
    browser.wait_for(
        "document.querySelector('tr[data-sink=up]').innerText.split('\\t')[7].startsWith('42%')"
    )
    assert browser.evaluate("document.querySelector('tr[data-sink=up]').innerText").split(
        "\t")[9] == "allowed"  # fmt: skip


def test_the_page_refuses_a_client_without_the_token(gateway, browser):
    page = httpx.get(gateway.url + "/dashboard")
    assert page.status_code == 401 and 'name="token"' in page.text and "app.js" not in page.text
    data = httpx.get(gateway.url + "/dashboard/data")
    assert data.status_code == 401 and data.json()["error"]["type"] == "authentication_error"
    wrong = httpx.get(gateway.url + "/dashboard/data", cookies={"gateway_dashboard": "wrong"})
    assert wrong.status_code == 401
    refused = httpx.post(gateway.url + "/dashboard/login", data={"token": "wrong"})
    assert refused.status_code == 401 and "not accepted" in refused.text
    assert "set-cookie" not in refused.headers
    cross_site = httpx.post(gateway.url + "/dashboard/login", data={"token": TOKEN},
                            headers={"origin": "https://evil.example"})  # fmt: skip
    assert cross_site.status_code == 401 and "set-cookie" not in cross_site.headers

    login = httpx.post(gateway.url + "/dashboard/login", data={"token": TOKEN})
    assert login.status_code == 303 and login.headers["location"] == "/dashboard"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    allowed = httpx.get(gateway.url + "/dashboard/data", cookies=login.cookies)
    assert allowed.status_code == 200 and allowed.json()["usage"]["totals"]["requests"] >= 0
    status = httpx.get(gateway.url + "/status", headers={"authorization": f"Bearer {TOKEN}"})
    assert allowed.json()["sinks"] == status.json()["sinks"]  # the sinks as /status has them
    # The cookie is no API key: it opens the dashboard only.
    api = httpx.get(gateway.url + "/v1/models", cookies=login.cookies)
    assert api.status_code == 401

    browser.clear_cookies()
    browser.navigate(gateway.url + "/dashboard")
    browser.wait_for("!!document.getElementById('token')")
    assert browser.evaluate("document.querySelector('[data-metric]') === null")


def test_without_a_token_only_this_machine_sees_it(
    write_config, serve, mock, monkeypatch, tmp_path
):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    text = ROUTES.replace("AUTH_TOKEN", "''").replace("MOCK_URL", "${MOCK_URL}")
    text = text.replace("LEDGER", "usage.db").replace(
        "enabled: false", f"path: {tmp_path / 'access.log'}"
    )
    served = serve(write_config(text))
    assert httpx.get(served.url + "/dashboard").status_code == 200
    assert httpx.get(served.url + "/dashboard/data").status_code == 200
    assert httpx.get(served.url + "/dashboard/login").status_code == 405
    served.stop()
    # The access log leaves out the page's polling, not what was refused.
    logged = (tmp_path / "access.log").read_text().splitlines()
    assert [json.loads(line)["path"] for line in logged] == ["/dashboard/login"]

    config = load_config(tmp_path / "routes.yaml")
    runtime = build_runtime(config, build_plugin_manager(config))
    remote = SimpleNamespace(ip="192.0.2.7", headers={}, cookies={})
    exchange = Exchange("1", "GET", "/dashboard", {}, "192.0.2.7")
    call = Call(remote, runtime, runtime.router.match("/dashboard"), exchange)
    with pytest.raises(PermissionDenied):
        asyncio.run(authorise(call))
