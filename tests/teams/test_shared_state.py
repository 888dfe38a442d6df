"""Limits shared through a real Redis by two gateway processes, one of them with two workers:
a limit of N admits exactly N across all three, a concurrency of 2 holds across them, /metrics
adds up the workers, and a Redis that dies is met with the configured policy and recovered
from when it returns."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx
import openai
import pytest
from metrics_text import value
from mock_upstream import MockUpstream, Reply
from real_servers import GatewayProcess, RedisServer
from waiting import wait_until

from gateway.teams.keys import ClientKey, hash_key, new_key
from gateway.teams.redis_state import RedisState

KEYS = {name: new_key() for name in ("shared", "pair", "free")}
TOKEN = "ops-token"
LIMIT = 5

ROUTES = """\
version: 1
sinks:
  up: {{kind: http, base_url: "{upstream}", dialect: anthropic.messages, headers: {{x-api-key: up}}}}
models:
  - name: opus
    aliases: [gpt-4o]
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
  - {{path: /v1/chat/completions, dialect: openai.chat}}
auth:
  token: {token}
  keys:
    - {{name: shared, hash: "{shared}", requests_per_minute: {limit}}}
    - {{name: pair, hash: "{pair}", concurrency: 2}}
    - {{name: free, hash: "{free}", concurrency: 100}}
state:
  url: {redis}
  on_unavailable: {policy}
  window_seconds: 3600
"""


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def gateways(
    upstream: MockUpstream, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """A: two workers, refusing while Redis is away. B: one process, serving meanwhile."""
    base = tmp_path_factory.mktemp("gateways")
    hashes = {name: hash_key(key) for name, key in KEYS.items()}
    started = []
    for name, policy, workers in (("a", "closed", 2), ("b", "open", 1)):
        config = base / f"{name}.yaml"
        config.write_text(
            ROUTES.format(
                upstream=upstream.base_url, token=TOKEN, limit=LIMIT, redis=redis_server.url,
                policy=policy, **hashes,
            ),
            encoding="utf-8",
        )  # fmt: skip
        started.append(GatewayProcess(config, workers).start())
    try:
        for gateway in started:
            gateway.wait_ready()
        yield started[0], started[1]
    finally:
        for gateway in started:
            gateway.stop()


def _post(gateway: GatewayProcess, key: str, text: str = "hi") -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        json={"model": "opus", "max_tokens": 5, "messages": [{"role": "user", "content": text}]},
        timeout=60,
    )


def _status(gateway: GatewayProcess) -> dict:
    return httpx.get(gateway.url + "/status", headers={"x-api-key": TOKEN}).json()


def test_a_limit_of_n_admits_exactly_n_across_processes_and_workers(gateways):
    a, b = gateways
    targets = [a, b] * 6
    with ThreadPoolExecutor(len(targets)) as pool:
        answers = list(pool.map(lambda g: _post(g, KEYS["shared"]), targets))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * LIMIT + [429] * (len(targets) - LIMIT)
    remaining = sorted(
        int(r.headers["anthropic-ratelimit-requests-remaining"]) for r in answers if r.is_success
    )
    assert remaining == list(range(LIMIT))  # each admission saw the count the others left
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["error"]["type"] == "rate_limit_error"
    # The openai SDK reads the same shared count through the other dialect's headers.
    client = openai.OpenAI(base_url=b.url + "/v1", api_key=KEYS["shared"], max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_concurrency_of_two_holds_across_processes_under_parallel_load(gateways, mock):
    a, b = gateways
    gate = threading.Event()
    mock.when("HOLD-pair", Reply(text="held", gate=gate))
    targets = [a, b] * 4
    pool = ThreadPoolExecutor(len(targets))
    try:
        futures = [pool.submit(_post, g, KEYS["pair"], "HOLD-pair") for g in targets]
        refused = wait_until(
            lambda: (
                [f for f in futures if f.done()] if sum(f.done() for f in futures) >= 6 else None
            ),
            "six refusals while two requests are held",
        )
        assert [f.result().status_code for f in refused] == [429] * 6
        held = [r for r in mock.received if b"HOLD-pair" in r.raw]
        assert len(held) == 2
    finally:
        gate.set()
        pool.shutdown(wait=True)
    assert sorted(f.result().status_code for f in futures) == [200] * 2 + [429] * 6
    # The slots came back: two at once are admitted again.
    assert _post(a, KEYS["pair"]).status_code == 200
    assert _post(b, KEYS["pair"]).status_code == 200


def test_metrics_add_up_the_workers_of_a_process(gateways):
    a, _ = gateways

    def health_ids() -> set[str]:
        return {json.loads(x)["id"][:8] for x in _log_lines(a) if '"path":"/health"' in x}

    def two_workers_served() -> bool:
        httpx.get(a.url + "/health")
        return len(health_ids()) >= 2

    wait_until(two_workers_served, "both workers of A to answer /health")

    def summed() -> bool:
        logged = sum(1 for line in _log_lines(a) if '"path":"/health"' in line)
        text = httpx.get(a.url + "/metrics", headers={"x-api-key": TOKEN}).text
        counted = value(
            text, "gateway_requests_total", route="/health", sink="", status="200", key=""
        )
        return counted == logged

    # One worker's own count would stay below what both logged.
    wait_until(summed, "/metrics to count the /health answers of both workers")


def _log_lines(gateway: GatewayProcess) -> list[str]:
    return [line for line in gateway.output().splitlines() if line.startswith("{")]


def test_redis_down_follows_each_policy_and_recovery_follows_its_return(gateways, redis_server):
    a, b = gateways
    assert _post(a, KEYS["free"]).status_code == 200
    assert _status(a)["limits"] | {"since": 0} == {
        "backend": "redis", "reachable": True, "since": 0, "problem": None,
        "on_unavailable": "closed", "window_seconds": 3600.0,
        "keys": ["shared", "pair", "free"],
    }  # fmt: skip
    redis_server.kill()
    try:
        refused = _post(a, KEYS["free"])
        assert refused.status_code == 503, refused.text
        assert "state.on_unavailable: closed" in refused.json()["error"]["message"]
        with pytest.raises(anthropic.InternalServerError):
            anthropic.Anthropic(
                base_url=a.url, api_key=KEYS["free"], max_retries=0
            ).messages.create(
                model="opus", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        # B serves even the key that used up its window: nothing can count it now.
        served = _post(b, KEYS["shared"])
        assert served.status_code == 200
        assert not any(h.startswith("anthropic-ratelimit") for h in served.headers)
        for gateway, policy in ((a, "closed"), (b, "open")):
            limits = _status(gateway)["limits"]
            assert limits["reachable"] is False and limits["on_unavailable"] == policy
            assert "unreachable" in gateway.output()
    finally:
        redis_server.start()
    wait_until(lambda: _post(a, KEYS["free"]).status_code == 200, "A to admit again", 30)
    # Each worker of A sees it again at its next request or /status.
    wait_until(lambda: _status(a)["limits"]["reachable"], "A's /status to see Redis again")
    wait_until(lambda: "reachable again" in a.output(), "A to log the recovery")
    # The restarted Redis is empty: the shared key's window starts again with B's first count.
    counted = wait_until(
        lambda: _post(b, KEYS["shared"]).headers.get("anthropic-ratelimit-requests-remaining"),
        "B to count in Redis again",
    )
    assert counted == str(LIMIT - 1)


def test_redis_state_counts_tokens_frees_slots_and_ends_stale_leases(redis_server):
    key = ClientKey("direct", b"", tokens_per_minute=20, concurrency=1)

    async def scenario() -> list[str | None]:
        state = RedisState(redis_server.url, window=3600, lease=3600, prefix="unit:")
        stale = RedisState(redis_server.url, window=3600, lease=0.001, prefix="unit:")
        try:
            first = await state.admit(key, "t1")
            seen = [first.refused, (await state.admit(key, "t2")).refused]
            await state.finish(key, "t1", first.holds_slot, 18)
            second = await state.admit(key, "t3")
            seen += [second.refused, str(second.tokens)]
            await state.finish(key, "t3", second.holds_slot, 5)
            seen.append((await state.admit(key, "t4")).refused)
            # A slot whose holder never finished (a crashed worker) frees itself.
            other = ClientKey("stale", b"", concurrency=1)
            assert (await stale.admit(other, "lost")).holds_slot
            async with asyncio.timeout(10):
                while (await state.admit(other, "next")).refused == "concurrency":
                    await asyncio.sleep(0.001)
            return seen
        finally:
            await state.close()
            await stale.close()

    assert asyncio.run(scenario()) == [None, "concurrency", None, "18", "tokens"]
