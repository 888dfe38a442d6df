"""Bad input gets the dialect's error body and status, never a traceback or an HTML page."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

ROUTES = """
version: 1
# Each dialect's requests go to an upstream of the other dialect, so they are decoded here.
sinks:
  anthropic-up:
    kind: http
    base_url: ${MOCK_URL}
    dialect: anthropic.messages
  openai-up:
    kind: http
    base_url: ${MOCK_URL}/v1
    dialect: openai.chat
models:
  - name: opus
    sink: openai-up
  - name: gpt-4o
    sink: anthropic-up
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
mounts:
  - prefix: /openai
limits:
  max_body_bytes: 4096
access_log:
  enabled: false
"""

ANTHROPIC = {"anthropic-version": "2023-06-01"}


@pytest.fixture
def gateway(mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    return serve(write_config(ROUTES))


def openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def anthropic_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    return body["error"]


def test_malformed_json(gateway):
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert "not valid JSON" in openai_error(response, 400)["message"]
    response = httpx.post(gateway.url + "/v1/messages", content=b"[1, 2]", headers=ANTHROPIC)
    assert anthropic_error(response, 400)["message"] == "The request body must be a JSON object."


def test_wrong_types_name_the_field(gateway):
    body = {"model": "gpt-4o", "messages": "hello"}
    error = openai_error(httpx.post(gateway.url + "/v1/chat/completions", json=body), 400)
    assert error["message"] == "messages: expected an array, got a string"
    assert error["param"] == "messages"
    body = {"model": "opus", "max_tokens": "ten", "messages": [{"role": "user", "content": "x"}]}
    error = anthropic_error(httpx.post(gateway.url + "/v1/messages", json=body), 400)
    assert error == {
        "type": "invalid_request_error",
        "message": "max_tokens: expected an integer, got a string",
    }
    body = {
        "model": "opus",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "text"}]}],
    }
    error = anthropic_error(httpx.post(gateway.url + "/v1/messages", json=body), 400)
    assert error["message"] == "messages[0].content[0].text: field required"


def test_missing_fields(gateway):
    error = openai_error(
        httpx.post(gateway.url + "/v1/chat/completions", json={"model": "gpt-4o"}), 400
    )
    assert error["message"] == "messages: field required"
    error = anthropic_error(
        httpx.post(
            gateway.url + "/v1/messages", json={"messages": [{"role": "user", "content": "x"}]}
        ),
        400,
    )
    assert "model" in error["message"]


def test_unsupported_options_are_refused_not_dropped(gateway, mock):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    for kwargs, field in [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"temperature": 1.5}, "temperature"),
    ]:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "x"}], **kwargs
            )
        assert caught.value.body["param"] == field
    assert mock.received == []


def test_unknown_route_in_both_dialects(gateway):
    error = openai_error(httpx.post(gateway.url + "/v1/completions", json={}), 404)
    assert "No route serves POST /v1/completions" in error["message"]
    error = anthropic_error(httpx.get(gateway.url + "/nowhere", headers=ANTHROPIC), 404)
    assert error["type"] == "not_found_error"
    assert httpx.get(gateway.url + "/").status_code == 404


def test_wrong_method(gateway):
    response = httpx.get(gateway.url + "/v1/chat/completions")
    error = openai_error(response, 405)
    assert response.headers["allow"] == "POST"
    assert "accepts POST, not GET" in error["message"]
    response = httpx.delete(gateway.url + "/v1/models", headers=ANTHROPIC)
    anthropic_error(response, 405)


def test_body_too_large(gateway):
    big = {
        "model": "opus",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x" * 10_000}],
    }
    error = anthropic_error(
        httpx.post(gateway.url + "/v1/messages", json=big, headers=ANTHROPIC), 413
    )
    assert error["type"] == "request_too_large"
    assert "max_body_bytes" in error["message"]


def test_sdk_clients_raise_their_own_exceptions(gateway):
    client = anthropic.Anthropic(base_url=gateway.url, api_key="x", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="opus", max_tokens=5, messages=[{"role": "system", "content": "x"}]
        )
    assert caught.value.body["error"]["message"] == (
        "messages: at least one user message is required"
    )


def test_mounted_paths_and_trailing_slash(gateway):
    response = httpx.post(
        gateway.url + "/openai/v1/chat/completions/",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 200


def test_unversioned_paths_answer_like_v1(gateway):
    # Clients configured with the root as their base URL (Continue's Anthropic provider).
    body = {"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    message = httpx.post(gateway.url + "/messages", json=body, headers=ANTHROPIC).json()
    assert message["type"] == "message" and message["content"][0]["text"].endswith("hi")
    oai = openai.OpenAI(base_url=gateway.url + "/openai", api_key="x", max_retries=0)
    answer = oai.chat.completions.create(model="opus", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content.endswith("hi")


def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """One request on a raw socket (for bytes an HTTP client would not send); (status, body)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def test_hostile_bodies_get_a_400_in_the_dialect(gateway):
    deep = b'{"model":"gpt-4o","messages":' + b"[" * 1500 + b"]" * 1500 + b"}"
    response = httpx.post(gateway.url + "/v1/chat/completions", content=deep)
    assert openai_error(response, 400)["message"] == "The request body is nested too deeply."
    surrogate = b'{"model":"opus","max_tokens":5,"messages":[{"role":"user","content":"a\\ud800"}]}'
    error = anthropic_error(httpx.post(gateway.url + "/v1/messages", content=surrogate), 400)
    assert error["message"].startswith("messages[0].content: holds a lone UTF-16 surrogate")
    paired = (
        b'{"model":"opus","max_tokens":5,"messages":[{"role":"user","content":"\\ud83d\\ude00"}]}'
    )
    assert httpx.post(gateway.url + "/v1/messages", content=paired).status_code == 200
    empty = {"model": "opus", "max_tokens": 5, "messages": []}
    error = anthropic_error(httpx.post(gateway.url + "/v1/messages", json=empty), 400)
    assert error["message"] == "messages: must contain at least one message"


def test_unknown_methods_get_the_routes_error_shape(gateway):
    for method in (b"TRACE", b"FOO"):
        status, body = raw_request(
            gateway.port, method + b" /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        )
        assert status == 405 and json.loads(body)["type"] == "error"
        status, body = raw_request(
            gateway.port, method + b" /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        )
        assert status == 405 and "param" in json.loads(body)["error"]


def test_a_working_dir_that_is_no_path_is_a_400(tmp_path):
    from gateway.errors import InvalidRequest
    from gateway.sinks.claude.confinement import confine

    for requested in ("a\0b", "a" * 5000, "b" * 300):
        with pytest.raises(InvalidRequest) as caught:
            confine(requested, (".",), str(tmp_path))
        assert caught.value.param == "working_dir"


def test_header_bytes_that_are_not_utf8_are_quoted_in_the_refusal(gateway):
    # Found by the fuzz target: Sanic keeps such bytes as lone surrogates, which made the 403
    # itself fail to encode (a 500).
    for header in (b"Origin: \xfe\r\n", b"Host: \xff\r\n"):
        head = b"POST /v1/messages HTTP/1.1\r\n" + header
        if not header.startswith(b"Host"):
            head += b"Host: 127.0.0.1\r\n"
        status, body = raw_request(gateway.port, head, b"{}")
        error = json.loads(body)["error"]
        # Neither is a host or an origin at all: refused as malformed, before any other check.
        assert status == 400 and error["type"] == "invalid_request_error", body
        assert "\ufffd" in error["message"]


def test_a_header_that_cannot_be_relayed_is_a_400(gateway, mock):
    # Found by the fuzz target: a passthrough handed these to aiohttp, which refuses them (500).
    body = b'{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"x"}]}'
    for header in (b"anthropic-beta: \x00", b"X-Odd: \xff"):
        status, answer = raw_request(
            gateway.port,
            b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\n",
            body,
        )
        error = json.loads(answer)["error"]
        assert status == 400 and error["type"] == "invalid_request_error", answer
        assert "cannot be relayed" in error["message"]
    assert mock.received == []


def test_a_list_where_a_role_or_block_type_belongs_is_a_400(gateway):
    # Found by the fuzz target: the chat route's shape detection looked these up in a set.
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "a doc"},
    }
    bodies = [
        {
            "model": "gpt-4o",
            "max_tokens": 100,
            "messages": [
                {"role": [], "content": [document, {"type": "text", "text": "summarize"}]}
            ],
            "output_config": {"effort": "low"},
        },
        {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": {"a": 1}}]}]},
    ]
    for body in bodies:
        response = httpx.post(gateway.url + "/v1/chat/completions", json=body)
        assert "messages[0]" in openai_error(response, 400)["message"]


def test_a_system_prompt_beside_messages_that_are_no_list_is_a_400(gateway):
    # Found by the fuzz target: the chat route put Anthropic's system in front of the messages
    # before anything had checked that they are a list (TypeError, a 500).
    for messages in (None, True):
        body = {"model": "gpt-4o", "max_tokens": 50, "system": "Be brief.", "messages": messages}
        response = httpx.post(gateway.url + "/v1/chat/completions", json=body)
        assert openai_error(response, 400)["param"] == "messages"
    body = {"model": "gpt-4o", "input": "hi", "system": "Be brief.", "instructions": [1]}
    response = httpx.post(gateway.url + "/v1/chat/completions", json=body)
    assert openai_error(response, 400)["message"] == "instructions: expected a string, got an array"


def test_a_reasoning_summary_that_is_no_text_is_a_400(gateway):
    """Found by the fuzz target: a 500 (TypeError) before."""
    from gateway.dialects.openai_responses import SIGNATURE_PREFIX

    reasoning = {
        "type": "reasoning",
        "encrypted_content": SIGNATURE_PREFIX + "sig",
        "summary": [{"type": "summary_text", "text": ["not", "text"]}],
    }
    body = {"model": "gpt-4o", "input": [reasoning, {"role": "user", "content": "hi"}]}
    error = openai_error(httpx.post(gateway.url + "/v1/chat/completions", json=body), 400)
    assert error["message"] == "input[0].summary[0].text: expected a string, got an array"


PATTERNS = """
version: 1
sinks:
  anthropic-up: {kind: http, base_url: "${MOCK_URL}", dialect: anthropic.messages}
models:
  - match: "gpt-4o*"       # a catch-all alias: it would match the names below too
    target: claude-opus-5-5
routes:
  - path: /v1/messages
    dialect: anthropic.messages
  - path: /v1/chat/completions
    dialect: openai.chat
access_log:
  enabled: false
"""


@pytest.mark.parametrize("name", ["gpt-4o\u0000", "gpt-4o\n", "gpt-4o\x1b[2J", "gpt-4o\x85"])
def test_a_model_name_with_a_control_character_is_a_400(
    mock, serve, write_config, monkeypatch, name
):
    """Issue 25, row 10: "gpt-4o\\u0000" was served through a catch-all alias."""
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    gateway = serve(write_config(PATTERNS))
    chat = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        chat.chat.completions.create(model=name, messages=[{"role": "user", "content": "x"}])
    assert refused.value.body["param"] == "model" and "control character" in refused.value.message
    # An Anthropic client to an Anthropic upstream: a passthrough, refused all the same.
    messages = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as refused:
        messages.messages.create(
            model=name, max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert refused.value.body["error"]["type"] == "invalid_request_error"
    assert mock.received == []  # nothing reached the upstream
