"""The model table, pure: names, aliases, globs and expressions to a plan of targets; rules."""

import re

import pytest

from gateway.config import ModelRule
from gateway.config.routing import Facts, ModelTable, Target, Via
from gateway.config.targets import (
    Condition,
    RetryPolicy,
    RoutingDefaults,
    RoutingRule,
    TargetSpec,
)
from gateway.errors import ModelNotFound

RULES = (
    ModelRule(name="opus", aliases=("gpt-4o", "best"), target="claude-opus-5-5"),
    ModelRule(name="haiku", sink="api"),
    ModelRule(match="claude-*"),
    ModelRule(regex=re.compile(r"gpt-(\d+)-mini"), target=r"claude-haiku-\1"),
)
TABLE = ModelTable(RULES, default_sink="cli")
NOWHERE = Via()


def never(sink: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("name", "via", "expected"),
    [
        ("opus", NOWHERE, Target("opus", "claude-opus-5-5", "cli")),
        ("gpt-4o", NOWHERE, Target("gpt-4o", "claude-opus-5-5", "cli")),
        ("haiku", NOWHERE, Target("haiku", "haiku", "api")),
        ("haiku", Via("sdk"), Target("haiku", "haiku", "sdk")),  # a mount's sink wins
        ("claude-sonnet-5-5", NOWHERE, Target("claude-sonnet-5-5", "claude-sonnet-5-5", "cli")),
        ("gpt-5-mini", NOWHERE, Target("gpt-5-mini", "claude-haiku-5", "cli")),
    ],
)
def test_a_name_resolves_to_one_target(name, via, expected):
    plan = TABLE.resolve(name, via, never)
    assert plan.targets == (expected,) and plan.rule is None


def test_an_unknown_name_lists_the_known_ones_unless_the_sink_takes_any():
    with pytest.raises(ModelNotFound) as caught:
        TABLE.resolve("gpt-3", NOWHERE, never)
    assert caught.value.message == (
        "The model 'gpt-3' does not exist on this gateway. Available models: opus, gpt-4o, "
        r"best, haiku; and names matching claude-*, gpt-(\d+)-mini."
    )
    plan = TABLE.resolve("gpt-3", Via("api"), lambda sink: sink == "api")
    assert plan.targets == (Target("gpt-3", "gpt-3", "api"),)


def test_listed_names_keep_the_file_order_and_the_first_definition():
    table = ModelTable((*RULES, ModelRule(name="best", target="other")), "cli")
    assert [name for name, _ in table.listed()] == ["opus", "gpt-4o", "best", "haiku"]
    assert table.resolve("best", NOWHERE, never).primary.model == "claude-opus-5-5"


SONNET = ModelRule(
    name="sonnet",
    target="claude-sonnet-5-5",
    targets=(TargetSpec("cli"), TargetSpec("api", "claude-sonnet-5-5-api", 3.0)),
    strategy="weighted",
    retry=RetryPolicy(attempts=3, on=frozenset({"overloaded", "rate_limited"})),
    rules=(
        RoutingRule("long", Condition(input_tokens_above=100), use="opus"),
        RoutingRule("think", Condition(thinking=True), targets=(TargetSpec("api"),)),
        RoutingRule("ci", Condition(header={"x-job": "ci-*"}, key="bot*"), use="haiku"),
    ),
)
ROUTED = ModelTable((*RULES, SONNET), "cli", RoutingDefaults(fallback_on=frozenset({"connect"})))


def facts(body=None, headers=None, key=None):
    base = {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}
    return Facts(base | (body or {}), headers or {}, key)


def test_several_targets_keep_their_models_weights_strategy_and_retry():
    plan = ROUTED.resolve("sonnet", NOWHERE, never, facts())
    assert [(t.key, t.weight) for t in plan.targets] == [
        ("cli/claude-sonnet-5-5", 1.0),
        ("api/claude-sonnet-5-5-api", 3.0),
    ]
    assert plan.strategy == "weighted" and plan.retry.attempts == 3
    assert plan.fallback_on == {"connect"}  # the routing defaults, as the entry names none


def test_the_first_rule_that_holds_decides_and_is_named():
    long_text = {"messages": [{"role": "user", "content": "x" * 404}]}
    plan = ROUTED.resolve("sonnet", NOWHERE, never, facts(long_text))
    assert (plan.rule, plan.requested, plan.primary.model) == ("long", "sonnet", "claude-opus-5-5")
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 2000}}
    plan = ROUTED.resolve("sonnet", NOWHERE, never, facts(thinking))
    assert plan.rule == "think" and [t.key for t in plan.targets] == ["api/claude-sonnet-5-5"]
    ci = ROUTED.resolve("sonnet", NOWHERE, never, facts({}, {"x-job": "ci-42"}, "bot-1"))
    assert ci.rule == "ci" and ci.primary == Target("sonnet", "haiku", "api")
    # Each condition must hold: the header alone, or another key, is not enough.
    assert ROUTED.resolve("sonnet", NOWHERE, never, facts({}, {"x-job": "ci-42"})).rule is None
    # Without facts (a route whose rules do not apply) the entry's own targets serve.
    assert ROUTED.resolve("sonnet", NOWHERE, never, None).rule is None


def test_the_token_estimate_leaves_images_out_and_reads_every_dialect():
    image = {"type": "image", "source": {"type": "base64", "data": "A" * 100_000}}
    body = {"messages": [{"role": "user", "content": [image, {"type": "text", "text": "y" * 40}]}]}
    assert facts(body).input_tokens == 10
    assert facts({"input": "z" * 80, "instructions": "w" * 40}).input_tokens == 30
    assert facts({"reasoning_effort": "high"}).thinking
    assert facts({"output_config": {"effort": "low"}}).thinking
    assert not facts({"thinking": {"type": "disabled"}}).thinking
    assert facts({"tools": [{"name": "t"}]}).tools and not facts().tools


def test_a_mount_s_targets_replace_the_entry_s_sinks():
    via = Via(targets=(TargetSpec("a"), TargetSpec("b", "other")), strategy="round_robin")
    plan = ROUTED.resolve("opus", via, never)
    assert [t.key for t in plan.targets] == ["a/claude-opus-5-5", "b/other"]
    assert plan.strategy == "round_robin"
