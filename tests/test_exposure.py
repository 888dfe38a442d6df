"""Serving beyond localhost: a public URL (a tunnel for Cursor), CORS, trusted proxies."""

from __future__ import annotations

import json

import httpx
import pytest
from test_auth_and_log import ROUTES
from waiting import wait_until

from gateway import hookspecs
from gateway.config import load_config
from gateway.config.yaml_source import ConfigError
from gateway.server.plugins import build_plugin_manager

EXPOSED = (
    ROUTES
    + """
server:
  public_url: https://gw.example.com
  cors_origins: [vscode-file://vscode-app]
  trusted_proxies: [127.0.0.1]
"""
)
TOKEN = {"authorization": "Bearer s3cret-token"}
BODY = {"model": "opus", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}


@pytest.fixture
def exposed(mock, serve, write_config, monkeypatch, tmp_path):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setenv("UPSTREAM_KEY", "k")
    monkeypatch.setenv("LOG_PATH", str(tmp_path / "access.log"))
    monkeypatch.setenv("GATEWAY_TOKEN", "s3cret-token")
    seen: list[str] = []

    class Addresses:
        @hookspecs.hookimpl
        def gateway_request_finished(self, exchange):
            seen.append(exchange.remote_addr)

    config = load_config(write_config(EXPOSED))
    plugins = build_plugin_manager(config)
    plugins.register(Addresses())
    served = serve(config, plugins=plugins)
    served.addresses = seen
    return served


def test_a_public_url_needs_a_token(write_config, monkeypatch, mock):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setenv("LOG_PATH", "-")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(EXPOSED))
    assert "server.public_url" in str(caught.value) and "auth.token" in str(caught.value)


def test_the_public_host_is_served_with_the_token(exposed):
    url = exposed.url + "/v1/messages"
    public = {"host": "gw.example.com", **TOKEN}
    assert httpx.post(url, json=BODY, headers=public).status_code == 200
    assert httpx.post(url, json=BODY, headers={"host": "gw.example.com"}).status_code == 401
    other = httpx.post(url, json=BODY, headers={"host": "evil.example", **TOKEN})
    assert other.status_code == 403 and "gw.example.com" in other.json()["error"]["message"]


def test_cors_for_allowed_origins_only(exposed):
    url = exposed.url + "/v1/chat/completions"
    preflight = httpx.options(
        url,
        headers={
            "origin": "vscode-file://vscode-app",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204  # no token: browsers send none with a preflight
    assert preflight.headers["access-control-allow-origin"] == "vscode-file://vscode-app"
    assert preflight.headers["access-control-allow-headers"] == "authorization, content-type"
    foreign = httpx.options(url, headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream(
        "POST", url, json=body, headers={"origin": "vscode-file://vscode-app", **TOKEN}
    ) as streamed:
        assert streamed.headers["access-control-allow-origin"] == "vscode-file://vscode-app"
        assert "data: [DONE]" in streamed.read().decode()
    refused = httpx.post(url, json=body, headers={"origin": "https://evil.example", **TOKEN})
    assert (
        refused.status_code == 403 and "server.cors_origins" in refused.json()["error"]["message"]
    )


def test_forwarded_headers_only_from_trusted_proxies(exposed):
    url = exposed.url + "/v1/messages"
    forwarded = {"x-forwarded-for": "203.0.113.7, 127.0.0.1"}
    # The test client connects from 127.0.0.1, a trusted proxy here.
    answer = httpx.post(url, json=BODY, headers={"host": "gw.example.com", **forwarded, **TOKEN})
    assert answer.status_code == 200
    # The request-finished hook runs once the answer is out: wait for its record.
    wait_until(lambda: exposed.addresses, "the request-finished hook")
    assert exposed.addresses[-1] == "203.0.113.7"
    # X-Forwarded-Host never overrides the Host check (a rebound page connects locally too).
    rebound = {"host": "evil.example", "x-forwarded-host": "gw.example.com", **TOKEN}
    assert httpx.post(url, json=BODY, headers=rebound).status_code == 403


def test_without_a_token_a_null_origin_is_refused(mock, serve, write_config, monkeypatch, tmp_path):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setenv("LOG_PATH", str(tmp_path / "access.log"))
    gateway = serve(write_config(ROUTES))
    sandboxed = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
        headers={"origin": "null", "content-type": "text/plain"},
    )
    assert sandboxed.status_code == 403


def test_an_untrusted_peer_cannot_claim_an_address_or_host():
    from gateway.config.exposure import Exposure

    exposure = Exposure.from_options({"trusted_proxies": ["10.0.0.0/8"]}, token_required=True)
    headers = {"x-forwarded-for": "203.0.113.7"}
    assert exposure.client_address("192.0.2.1", headers) == "192.0.2.1"
    assert exposure.client_address("10.1.2.3", headers) == "203.0.113.7"


def test_without_a_token_only_listed_origins_may_read():
    from gateway.config.exposure import Exposure

    exposure = Exposure.from_options(
        {"cors_origins": ["https://app.example"]}, token_required=False
    )
    assert exposure.cors_headers("https://app.example", preflight=False)
    # A page on another local port may send (as before) but never read the answer.
    assert exposure.cors_headers("http://localhost:5555", preflight=False) == {}


def test_any_origin_needs_a_token(write_config, monkeypatch, mock):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setenv("LOG_PATH", "-")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(ROUTES + "server:\n  cors_origins: ['*']\n"))
    assert "server.cors_origins" in str(caught.value)


# --- The hostile probe's rows 1 and 6 (issue 25) ------------------------------------------------

OPEN = (
    ROUTES
    + """
mounts:
  - prefix: /api
server:
  trusted_proxies: [127.0.0.1]
"""
)
CROSS_SITE = {
    "host": "attacker.example",
    "origin": "https://attacker.example",
    "content-type": "text/plain",
}


@pytest.fixture
def open_to_remote(mock, serve, write_config, monkeypatch, tmp_path):
    """`gateway serve --host 127.0.0.1 --allow-unauthenticated-remote`: no token."""
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    monkeypatch.setenv("UPSTREAM_KEY", "k")
    monkeypatch.setenv("LOG_PATH", str(tmp_path / "access.log"))
    return serve(write_config(OPEN), open_to_remote=True)


def test_serving_remote_clients_keeps_pages_of_this_machine_out(open_to_remote):
    url = open_to_remote.url + "/api/v1/messages"
    forged = httpx.post(url, content=json.dumps(BODY), headers=CROSS_SITE)
    assert forged.status_code == 403, forged.text
    # DNS rebinding without an Origin (a GET, or an older browser) is refused by its Host.
    assert httpx.post(url, json=BODY, headers={"host": "attacker.example"}).status_code == 403
    assert httpx.post(url, json=BODY, headers={"host": "localhost:8000"}).status_code == 200


def test_a_forwarded_address_from_this_machine_does_not_make_a_page_remote(open_to_remote):
    """A page rebound to 127.0.0.1 may add X-Forwarded-For itself: the trusted proxy list makes
    that the client's address, but the connection still comes from this machine."""
    url = open_to_remote.url + "/api/v1/messages"
    rebound = {"host": "attacker.example", "x-forwarded-for": "203.0.113.9"}
    assert httpx.post(url, json=BODY, headers=rebound).status_code == 403
    assert httpx.get(open_to_remote.url + "/api/v1/models", headers=rebound).status_code == 403


def _guarded(peer: str, headers: dict[str, str]) -> None:
    """refuse_foreign_names for a connection from ``peer``: tests bind only 127.0.0.1."""
    from types import SimpleNamespace

    from sanic.compat import Header

    from gateway.config.exposure import Exposure
    from gateway.flow.guard import refuse_foreign_names

    exposure = Exposure.from_options({"trusted_proxies": ["10.0.0.1"]}, token_required=False)
    request = SimpleNamespace(
        headers=Header(headers),
        ip=peer,
        app=SimpleNamespace(ctx=SimpleNamespace(open_to_remote=True)),
        ctx=SimpleNamespace(),
    )
    runtime = SimpleNamespace(config=SimpleNamespace(exposure=exposure, auth_required=False))
    refuse_foreign_names(request, runtime)


def test_remote_clients_may_name_the_gateway_by_any_host_but_not_send_an_origin():
    """What the flag allows: a client of another machine (directly, or behind a trusted proxy
    of another machine) names the gateway as it knows it; a web page there is still refused."""
    from gateway.errors import PermissionDenied

    remote = {"host": "gateway.lan:8000"}
    _guarded("192.0.2.5", remote)
    _guarded("10.0.0.1", {**remote, "x-forwarded-for": "192.0.2.5"})
    with pytest.raises(PermissionDenied):
        _guarded("192.0.2.5", {**remote, "origin": "https://attacker.example"})
    with pytest.raises(PermissionDenied):  # the proxy forwards a client of its own machine
        _guarded("10.0.0.1", {**remote, "x-forwarded-for": "127.0.0.1"})


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        (b"Host: localhost:80@evil.com\r\n", "is not a host name and port"),
        (b"Host: 127.0.0.1\r\nHost: evil.example\r\n", "2 Host headers"),
        (b"", "has no Host header"),
        (
            b"Host: 127.0.0.1\r\nOrigin: http://localhost\r\nOrigin: https://evil.example\r\n",
            "2 Origin headers",
        ),
        (b"Host: 127.0.0.1\r\nOrigin: http://localhost:80@evil.com\r\n", "is not an origin"),
    ],
)
def test_host_and_origin_are_read_strictly(open_to_remote, headers, says):
    from test_errors import raw_request

    body = json.dumps(BODY).encode()
    head = b"POST /api/v1/messages HTTP/1.1\r\ncontent-type: application/json\r\n" + headers
    status, answer = raw_request(open_to_remote.port, head, body)
    error = json.loads(answer)["error"]
    assert (status, error["type"]) == (400, "invalid_request_error"), answer
    assert says in error["message"]
