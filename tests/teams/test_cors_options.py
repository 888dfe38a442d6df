"""CORS set in routes.yaml: off unless origins are listed; a preflight allows the configured
methods and headers; answers let the page read the rate-limit headers of its key."""

from __future__ import annotations

import httpx

from gateway.teams.keys import hash_key, new_key

KEY = new_key()
ROUTES = f"""
version: 1
sinks:
  up: {{kind: http, base_url: "${{MOCK_URL}}", dialect: anthropic.messages}}
models:
  - name: opus
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
auth:
  keys:
    - {{name: web, hash: "{hash_key(KEY)}", requests_per_minute: 10}}
server:
  cors_origins: [https://app.example]
  cors_methods: [POST, OPTIONS]
  cors_headers: [x-api-key, content-type, anthropic-version, anthropic-dangerous-direct-browser-access]
state: {{window_seconds: 3600}}
access_log: {{enabled: false}}
"""
BODY = {"model": "opus", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}


def test_preflight_and_answers_follow_the_configured_cors(mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    gateway = serve(write_config(ROUTES))
    url = gateway.url + "/v1/messages"
    asked = {"access-control-request-method": "POST", "access-control-request-headers": "x-api-key"}
    preflight = httpx.options(url, headers={"origin": "https://app.example", **asked})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert preflight.headers["access-control-allow-headers"] == (
        "x-api-key, content-type, anthropic-version, anthropic-dangerous-direct-browser-access"
    )
    other = httpx.options(url, headers={"origin": "https://other.example", **asked})
    assert not any(h.startswith("access-control-") for h in other.headers)
    headers = {"origin": "https://app.example", "x-api-key": KEY, "anthropic-version": "2023-06-01"}
    answer = httpx.post(url, json=BODY, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["anthropic-ratelimit-requests-remaining"] == "9"
    exposed = answer.headers["access-control-expose-headers"]
    assert "anthropic-ratelimit-requests-remaining" in exposed and "retry-after" in exposed


def test_cors_is_off_by_default(mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    text = ROUTES.split("server:")[0] + "state:" + ROUTES.split("state:")[1]
    gateway = serve(write_config(text))
    url = gateway.url + "/v1/messages"
    preflight = httpx.options(
        url, headers={"origin": "https://app.example", "access-control-request-method": "POST"}
    )
    assert not any(h.startswith("access-control-") for h in preflight.headers)
    # With a key the request is served, but without CORS headers a browser hides the answer.
    answer = httpx.post(url, json=BODY, headers={"origin": "https://app.example", "x-api-key": KEY})
    assert answer.status_code == 200
    assert not any(h.startswith("access-control-") for h in answer.headers)
