"""Responses several gateways share: two `gateway serve` processes on one PostgreSQL server, and
two gateways in this process on one redis-server. A response created on one is read, continued,
referred to and deleted on the other."""

from __future__ import annotations

import openai
import pytest
import redis
from teams.real_servers import GatewayProcess, RedisServer

ROUTES = """
version: 1
responses:
  url: {url}
sinks:
  api:
    kind: http
    dialect: anthropic.messages
    base_url: {upstream}
    headers: {{x-api-key: k}}
default_sink: api
models:
  - name: sonnet
routes:
  - {{path: /v1/responses, dialect: openai.responses}}
access_log:
  enabled: false
"""


def continue_elsewhere(mock, first_url: str, second_url: str) -> None:
    one = openai.OpenAI(base_url=first_url + "/v1", api_key="x", max_retries=0)
    other = openai.OpenAI(base_url=second_url + "/v1", api_key="x", max_retries=0)
    kept = one.responses.create(model="sonnet", input="SHARED-FIRST")
    assert other.responses.retrieve(kept.id).output_text == kept.output_text
    other.responses.create(model="sonnet", previous_response_id=kept.id, input="SHARED-SECOND")
    texts = [m["content"][0]["text"] for m in mock.messages_requests()[-1].body["messages"]]
    assert texts == ["SHARED-FIRST", kept.output_text, "SHARED-SECOND"]
    reference = {"type": "item_reference", "id": kept.output[0].id}
    one.responses.create(model="sonnet", input=[reference, {"role": "user", "content": "THIRD"}])
    texts = [m["content"][0]["text"] for m in mock.messages_requests()[-1].body["messages"]]
    assert texts == [kept.output_text, "THIRD"]
    other.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError):
        one.responses.retrieve(kept.id)


def test_two_gateway_processes_share_one_postgresql_store(mock, postgres, tmp_path):
    config = tmp_path / "routes.yaml"
    config.write_text(ROUTES.format(url=postgres.url, upstream=mock.base_url))
    gateways = [GatewayProcess(config).start(), GatewayProcess(config).start()]
    try:
        for gateway in gateways:
            gateway.wait_ready()
        continue_elsewhere(mock, gateways[0].url, gateways[1].url)
    finally:
        for gateway in gateways:
            gateway.stop()


def test_two_gateways_share_one_redis_store(mock, serve, write_config, tmp_path):
    server = RedisServer(tmp_path).start()
    try:
        config = write_config(ROUTES.format(url=server.url, upstream=mock.base_url))
        continue_elsewhere(mock, serve(config).url, serve(config).url)
        keys = {key.split(b":")[1] for key in redis.Redis.from_url(server.url).keys("gateway:*")}
        assert keys == {b"response", b"item"}
    finally:
        server.kill()


def test_a_store_that_cannot_be_reached_fails_clearly(mock, serve, write_config, caplog):
    """Nothing listens at the store's address: a new response is still answered, saying it was
    not kept; what needs the store is a 503 in the client's shape, its cause in the log only."""
    config = write_config(ROUTES.format(url="redis://127.0.0.1:9/0", upstream=mock.base_url))
    oai = openai.OpenAI(base_url=serve(config).url + "/v1", api_key="x", max_retries=0)
    answer = oai.responses.with_raw_response.create(model="sonnet", input="UNKEPT")
    assert answer.parse().output_text
    assert "the response store failed" in answer.headers["x-gateway-not-stored"]
    assert "127.0.0.1:9" not in answer.headers["x-gateway-not-stored"]
    for attempt in (
        lambda: oai.responses.retrieve("resp_x"),
        lambda: oai.responses.create(model="sonnet", input="x", previous_response_id="resp_x"),
    ):
        with pytest.raises(openai.InternalServerError) as caught:
            attempt()
        assert caught.value.status_code == 503
        assert (
            "cannot be reached" in caught.value.message and "127.0.0.1" not in caught.value.message
        )
    assert any("127.0.0.1:9" in record.getMessage() for record in caplog.records)
