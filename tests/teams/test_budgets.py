"""Budgets of keys and teams: refused in each client's dialect once spent, naming the budget and
its reset; counted from the same numbers as the ledger (streamed answers, translated ones and
ones the client abandoned included), to the cent; shared by two gateway processes through a real
Redis."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anthropic
import httpx
import openai
import pytest
from mock_upstream import Reply
from real_servers import GatewayProcess, RedisServer
from waiting import wait_until

from gateway.teams.budget_rules import period_of
from gateway.teams.keys import hash_key, new_key

ZONE = "America/New_York"
KEYS = {name: new_key() for name in ("alice", "carol", "lead", "dan", "erin")}
# Prices far above the API's, so that a few answers of the mock make cents.
ROUTES = """\
version: 1
sinks:
  up: {{kind: http, base_url: "{upstream}", dialect: anthropic.messages, headers: {{x-api-key: up}}}}
models:
  - name: opus
    target: claude-opus-5-5
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
  - {{path: /v1/chat/completions, dialect: openai.chat}}
auth:
  keys:
    - {{name: alice, hash: "{alice}", budget: {{period: day, usd: 0.2}}}}
    - {{name: carol, hash: "{carol}", budget: {{period: week, tokens: 40}}}}
    - {{name: lead, hash: "{lead}", admin: true}}
    - {{name: dan, hash: "{dan}", team: platform}}
    - {{name: erin, hash: "{erin}", team: platform}}
teams:
  platform:
    budget: [{{period: month, usd: 0.5, warn_at: [0.5]}}, {{period: day, tokens: 100000}}]
budgets:
  time_zone: {zone}
prices:
  claude-opus-5-5: {{input: 1000, output: 5000}}
usage:
  path: {ledger}
  flush_interval: 0.05
access_log:
  enabled: false
{state}"""
MESSAGES = [{"role": "user", "content": "hello"}]


def _config(folder: Path, upstream: str, state: str = "") -> Path:
    hashes = {name: hash_key(key) for name, key in KEYS.items()}
    path = folder / "routes.yaml"
    text = ROUTES.format(upstream=upstream, zone=ZONE, ledger=folder / "usage.db", state=state,
                         **hashes)  # fmt: skip
    path.write_text(text, encoding="utf-8")
    return path


def _ledger_cost(folder: Path, keys: tuple[str, ...]) -> tuple[int, float]:
    marks = ", ".join("?" * len(keys))
    with sqlite3.connect(folder / "usage.db") as db:
        count, cost = db.execute(
            f"SELECT COUNT(*), SUM(cost_usd) FROM gateway_requests WHERE key_name IN ({marks})",
            keys,
        ).fetchone()
    return count, cost or 0.0


def _budgets(url: str) -> dict[str, dict]:
    """The budgets as the dashboard's data shows them to the admin key."""
    client = httpx.Client(base_url=url)
    assert client.post("/dashboard/login", data={"token": KEYS["lead"]}).status_code == 303
    rows = client.get("/dashboard/data?minutes=60").json()["budgets"]
    return {f"{b['scope']}:{b['owner']}:{b['period']}": b for b in rows}


def _next_midnight() -> str:
    now = datetime.now(ZoneInfo(ZONE))
    return f"{(now + timedelta(days=1)).date()} 00:00 {ZONE}"


@pytest.fixture(scope="module")
def single(upstream, tmp_path_factory) -> Iterator[tuple[GatewayProcess, Path]]:
    folder = tmp_path_factory.mktemp("budget")
    gateway = GatewayProcess(_config(folder, upstream.base_url)).start().wait_ready()
    yield gateway, folder
    gateway.stop()


def test_a_key_is_refused_once_its_dollars_are_spent_and_counted_as_the_ledger(single, mock):
    gateway, folder = single
    mock.when("slowly", Reply(text="one two three four five six", chunks=6, delay=0.2))
    messages_api = anthropic.Anthropic(base_url=gateway.url, api_key=KEYS["alice"], max_retries=0)
    chat = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEYS["alice"], max_retries=0)
    # $0.046 a whole answer (11 input and 7 output tokens at $1,000 and $5,000 a million).
    messages_api.messages.create(model="opus", max_tokens=20, messages=MESSAGES)
    with messages_api.messages.stream(model="opus", max_tokens=20, messages=MESSAGES) as stream:
        stream.get_final_message()
    list(chat.chat.completions.create(model="opus", messages=MESSAGES, stream=True))
    # Abandoned after its first event: the input tokens (and the first output token) count.
    body = {"model": "opus", "max_tokens": 20, "stream": True,
            "messages": [{"role": "user", "content": "slowly"}]}  # fmt: skip
    headers = {"x-api-key": KEYS["alice"], "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", gateway.url + "/v1/messages", json=body, headers=headers) as r:
        next(r.iter_lines())
    wait_until(lambda: _ledger_cost(folder, ("alice",))[0] == 4, "the abandoned stream's row")
    chat.chat.completions.create(model="opus", messages=MESSAGES)  # $0.200 spent

    with pytest.raises(anthropic.RateLimitError) as refused:
        messages_api.messages.create(model="opus", max_tokens=20, messages=MESSAGES)
    message = refused.value.body["error"]["message"]
    assert "The key 'alice' has used up its daily budget of $0.20 ($0.20 spent)" in message
    assert f"it resets at {_next_midnight()}" in message
    resets = period_of("day", datetime.now().timestamp(), ZoneInfo(ZONE)).resets
    retry_after = int(refused.value.response.headers["retry-after"])
    assert abs(retry_after - (resets - datetime.now().timestamp())) < 60
    with pytest.raises(openai.RateLimitError) as in_openai:
        chat.chat.completions.create(model="opus", messages=MESSAGES)
    assert in_openai.value.body["code"] == "budget_exceeded"

    with sqlite3.connect(folder / "usage.db") as db:
        abandoned = db.execute(
            "SELECT status, input_tokens, output_tokens, cost_usd FROM gateway_requests "
            "WHERE key_name = 'alice' AND status = 499"
        ).fetchall()
    assert abandoned == [(499, 11, 1, pytest.approx(0.016))]
    wait_until(lambda: _ledger_cost(folder, ("alice",))[0] == 7, "the refusals' rows")
    _, cost = _ledger_cost(folder, ("alice",))
    spent = _budgets(gateway.url)["key:alice:day"]
    assert round(cost, 2) == round(spent["spent_usd"], 2) == 0.2
    assert abs(cost - spent["spent_usd"]) < 1e-6 and spent["state"] == "spent"


def test_a_token_budget_counts_every_token_the_ledger_does(single, mock):
    gateway, folder = single
    client = anthropic.Anthropic(base_url=gateway.url, api_key=KEYS["carol"], max_retries=0)
    client.messages.create(model="opus", max_tokens=20, messages=MESSAGES)
    client.messages.create(model="opus", max_tokens=20, messages=MESSAGES)  # 36 of 40
    client.messages.create(model="opus", max_tokens=20, messages=MESSAGES)  # 54: now spent
    with pytest.raises(anthropic.RateLimitError) as refused:
        client.messages.create(model="opus", max_tokens=20, messages=MESSAGES)
    assert "weekly budget of 40 tokens (54 tokens spent)" in refused.value.body["error"]["message"]
    wait_until(lambda: _ledger_cost(folder, ("carol",))[0] == 4, "carol's rows")
    with sqlite3.connect(folder / "usage.db") as db:
        (tokens,) = db.execute(
            "SELECT SUM(input_tokens + output_tokens + cache_read_tokens + cache_creation_tokens) "
            "FROM gateway_requests WHERE key_name = 'carol'"
        ).fetchone()
    assert tokens == 54 == _budgets(gateway.url)["key:carol:week"]["spent_tokens"]
    # Listing models asks no budget: a client that lists first still starts.
    listed = httpx.get(gateway.url + "/v1/models", headers={"x-api-key": KEYS["carol"]})
    assert listed.status_code == 200


@pytest.fixture(scope="module")
def shared(upstream, tmp_path_factory) -> Iterator[tuple[GatewayProcess, GatewayProcess, Path]]:
    redis = RedisServer(tmp_path_factory.mktemp("redis")).start()
    folder = tmp_path_factory.mktemp("shared-budget")
    config = _config(folder, upstream.base_url, f"state: {{url: {redis.url}}}\n")
    gateways = [GatewayProcess(config).start() for _ in range(2)]
    try:
        for gateway in gateways:
            gateway.wait_ready()
        yield gateways[0], gateways[1], folder
    finally:
        for gateway in gateways:
            gateway.stop()
        redis.kill()


def test_a_team_budget_is_shared_by_two_gateways_through_redis(shared, mock):
    a, b, folder = shared
    clients = [
        anthropic.Anthropic(base_url=gateway.url, api_key=KEYS[name], max_retries=0)
        for gateway, name in ((a, "dan"), (b, "erin"))
    ]
    served = 0
    # $0.046 an answer against the team's $0.50 a month: the 11th, on either gateway, is over.
    while served < 11:
        client = clients[served % 2]
        with client.messages.stream(model="opus", max_tokens=20, messages=MESSAGES) as stream:
            stream.get_final_message()
        served += 1
    for client in clients:
        with pytest.raises(anthropic.RateLimitError) as refused:
            client.messages.create(model="opus", max_tokens=20, messages=MESSAGES)
        assert "The team 'platform' has used up its monthly budget of $0.50" in str(refused.value)
    wait_until(lambda: _ledger_cost(folder, ("dan", "erin"))[0] == 13, "both gateways' rows")
    _, cost = _ledger_cost(folder, ("dan", "erin"))
    for gateway in (a, b):
        spent = _budgets(gateway.url)["team:platform:month"]
        assert round(spent["spent_usd"], 2) == round(cost, 2) == 0.51
        assert abs(spent["spent_usd"] - cost) < 1e-6
    # The share it warns at was crossed once, by whichever gateway counted past it.
    warned = [g for g in (a, b) if "monthly budget of $0.50 of the team 'platform': 50%" in
              g.output()]  # fmt: skip
    assert len(warned) == 1


def test_periods_follow_the_time_zone_across_weeks_months_and_daylight_saving():
    zone = ZoneInfo("Europe/Paris")
    # 2026-03-29 is the Sunday clocks go forward in Paris: that day lasts 23 hours.
    sunday = datetime(2026, 3, 29, 12, 0, tzinfo=zone).timestamp()
    day = period_of("day", sunday, zone)
    assert day.label == "2026-03-29" and day.resets - day.starts == 23 * 3600
    week = period_of("week", sunday, zone)
    assert week.label == "2026-W13"
    assert datetime.fromtimestamp(week.starts, zone) == datetime(2026, 3, 23, tzinfo=zone)
    month = period_of("month", datetime(2026, 12, 31, 23, 30, tzinfo=zone).timestamp(), zone)
    assert month.label == "2026-12"
    assert datetime.fromtimestamp(month.resets, zone) == datetime(2027, 1, 1, tzinfo=zone)
