"""No silent drops: every field of the installed SDKs' ``create()`` is carried, refused with a
400 naming it, or documented as accepted without effect.

The fields are read from the SDKs' signatures, so a new SDK release that adds one fails here
until it is given one of the three treatments.
"""

from __future__ import annotations

import inspect
import re

import anthropic
import openai
import pytest
from anthropic.resources.messages import Messages
from openai.resources.chat.completions import Completions
from openai.resources.responses import Responses
from paths import REPO

from gateway.dialects import anthropic_messages, openai_chat, openai_responses

DOCS = (REPO / "docs" / "compatibility.md").read_text()
# How to send, not what to send.
TRANSPORT = {"extra_headers", "extra_query", "extra_body", "timeout"}
# The anthropic SDK sends these as headers; a passthrough route forwards them.
ANTHROPIC_HEADERS = {"user_profile_id", "workspace_id"}

ROUTES = """
version: 1
sinks:
  upstream:
    kind: http
    base_url: ${MOCK_URL}
    dialect: anthropic.messages
models:
  - name: opus
routes:
  - path: /v1/chat/completions
    dialect: openai.chat
  - path: /v1/responses
    dialect: openai.responses
  - path: /v1/messages
    dialect: anthropic.messages
access_log:
  enabled: false
"""

# A value that asks for what the gateway refuses, per refused field.
REFUSED_CHAT = {
    "n": 2,
    "logprobs": True,
    "top_logprobs": 3,
    "logit_bias": {"50256": -100},
    "frequency_penalty": 0.5,
    "presence_penalty": 0.5,
    "audio": {"voice": "alloy", "format": "wav"},
    "modalities": ["text", "audio"],
    "prediction": {"type": "content", "content": "x"},
    "web_search_options": {},
    "moderation": {"model": "omni-moderation-latest"},
}
REFUSED_RESPONSES = {
    "conversation": "conv_1",
    "background": True,
    "prompt": {"id": "pmpt_1"},
    "top_logprobs": 2,
    "moderation": {"model": "omni-moderation-latest"},
}
# A plausible value per accepted field: it must not be refused.
ACCEPTED_CHAT = {
    "seed": 7,
    "store": True,
    "metadata": {"k": "v"},
    "service_tier": "auto",
    "prompt_cache_key": "key",
    "prompt_cache_retention": "24h",
    "prompt_cache_options": {"mode": "implicit", "ttl": "30m"},
    "verbosity": "low",
}
ACCEPTED_RESPONSES = {
    "metadata": {"k": "v"},
    "store": False,
    "service_tier": "auto",
    "prompt_cache_key": "key",
    "prompt_cache_retention": "24h",
    "prompt_cache_options": {"mode": "implicit", "ttl": "30m"},
    "include": ["reasoning.encrypted_content"],
    "truncation": "auto",
    "max_tool_calls": 3,
    "stream_options": {"include_obfuscation": False},
    "context_management": [{"type": "compaction", "compact_threshold": 100000}],
    "access_programs": {"cyber": "standard"},
    "image": {"context_compression": "auto"},
    "background_options": {"completion_window": "soonest"},
}
ACCEPTED_MESSAGES = {"service_tier": "auto", "diagnostics": {"previous_message_id": "msg_1"}}


def fields(create) -> set[str]:
    return set(inspect.signature(create).parameters) - {"self"} - TRANSPORT


@pytest.mark.parametrize(
    ("create", "dialect", "extra"),
    [
        (Completions.create, openai_chat, set()),
        (Responses.create, openai_responses, set()),
        (Messages.create, anthropic_messages, anthropic_messages.KEPT_AS_EXTRA | ANTHROPIC_HEADERS),
    ],
    ids=["chat", "responses", "messages"],
)
def test_every_sdk_field_has_a_treatment(create, dialect, extra):
    refused = set(getattr(dialect, "REFUSED", {}))
    # Read from the response store before decoding (openai_responses_state).
    extra = extra | getattr(dialect, "STATEFUL", set())
    treated = dialect.CARRIED | dialect.ACCEPTED | refused | extra
    assert fields(create) - treated == set(), "a field of the installed SDK has no treatment"
    assert not (dialect.CARRIED & dialect.ACCEPTED) and not (refused & dialect.CARRIED)
    undocumented = {f for f in dialect.ACCEPTED | refused | extra if f"`{f}`" not in DOCS}
    assert undocumented == set(), "docs/compatibility.md must say what happens to these"


@pytest.fixture
def clients(mock, serve, write_config, monkeypatch):
    monkeypatch.setenv("MOCK_URL", mock.base_url)
    served = serve(write_config(ROUTES))
    return (
        openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0),
        anthropic.Anthropic(base_url=served.url, api_key="x", max_retries=0),
    )


def test_refused_fields_are_named_in_a_400(clients, mock):
    oai, _ = clients
    messages = [{"role": "user", "content": "x"}]
    assert set(REFUSED_CHAT) == set(openai_chat.REFUSED)
    assert set(REFUSED_RESPONSES) == set(openai_responses.REFUSED)
    for field, value in REFUSED_CHAT.items():
        with pytest.raises(openai.BadRequestError) as caught:
            oai.chat.completions.create(model="opus", messages=messages, **{field: value})
        assert caught.value.body["param"] == field
        assert re.match(rf"{field}: \S", caught.value.body["message"])
    for field, value in REFUSED_RESPONSES.items():
        with pytest.raises(openai.BadRequestError) as caught:
            oai.responses.create(model="opus", input="x", **{field: value})
        assert caught.value.body["param"] == field
    assert mock.received == []


def test_accepted_fields_are_accepted(clients, mock):
    oai, claude = clients
    assert set(ACCEPTED_CHAT) == set(openai_chat.ACCEPTED)
    assert set(ACCEPTED_RESPONSES) == set(openai_responses.ACCEPTED)
    assert set(ACCEPTED_MESSAGES) == set(anthropic_messages.ACCEPTED)
    oai.chat.completions.create(
        model="opus", messages=[{"role": "user", "content": "x"}], **ACCEPTED_CHAT
    )
    oai.responses.create(model="opus", input="x", **ACCEPTED_RESPONSES)
    claude.messages.create(
        model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}], **ACCEPTED_MESSAGES
    )
    chat, responses, messages = (r.body for r in mock.messages_requests())
    # Translated, nothing of them reaches the upstream: they have no meaning there.
    for body in (chat, responses):
        assert not {"seed", "store", "service_tier", "include", "truncation"} & set(body)
    # An Anthropic client on an Anthropic upstream passes through byte for byte.
    assert messages["diagnostics"] == {"previous_message_id": "msg_1"}
