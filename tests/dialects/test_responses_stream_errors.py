"""A Responses stream that fails ends with events the openai SDK's types accept."""

from __future__ import annotations

import json

import pytest
from openai.types.responses import ResponseErrorEvent, ResponseFailedEvent

from gateway import ir
from gateway.dialects.openai_responses_out import StreamEncoder
from gateway.errors import InvalidRequest, Overloaded, RateLimited, UpstreamError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RateLimited("slow down"), "rate_limit_exceeded"),
        (Overloaded("busy"), "rate_limit_exceeded"),
        (InvalidRequest("bad"), "server_error"),
        (UpstreamError("broke"), "server_error"),
    ],
)
def test_a_failed_response_carries_a_code_the_sdk_knows(error, code):
    encoder = StreamEncoder(ir.Request(model="m", messages=[], stream=True))
    encoder.encode(ir.MessageStart("msg_1", "m"))
    events = [
        json.loads(line[6:])
        for line in encoder.error(error).decode().splitlines()
        if line.startswith("data: ")
    ]
    detail, failed = events
    ResponseErrorEvent.model_validate(detail)
    assert ResponseFailedEvent.model_validate(failed).response.error.code == code
    assert failed["response"]["error"]["message"] == error.message
