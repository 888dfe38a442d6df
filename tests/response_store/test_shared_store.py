"""Responses several gateways share: two `gateway serve` processes on one PostgreSQL server, and
two gateways in this process on one redis-server. A response created on one is read, continued,
referred to and deleted on the other."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
import redis
from postgres_server import PostgresServer
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


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


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
