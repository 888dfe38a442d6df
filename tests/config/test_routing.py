"""The model table, pure: names, aliases, globs and expressions to the sink and the name it gets."""

import re

import pytest

from gateway.config import ModelRule
from gateway.config.routing import ModelTable, Target
from gateway.errors import ModelNotFound

RULES = (
    ModelRule(name="opus", aliases=("gpt-4o", "best"), target="claude-opus-5-5"),
    ModelRule(name="haiku", sink="api"),
    ModelRule(match="claude-*"),
    ModelRule(regex=re.compile(r"gpt-(\d+)-mini"), target=r"claude-haiku-\1"),
)
TABLE = ModelTable(RULES, default_sink="cli")


def never(sink: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("name", "forced", "expected"),
    [
        ("opus", None, Target("opus", "claude-opus-5-5", "cli")),
        ("gpt-4o", None, Target("gpt-4o", "claude-opus-5-5", "cli")),
        ("haiku", None, Target("haiku", "haiku", "api")),
        ("haiku", "sdk", Target("haiku", "haiku", "sdk")),  # a mount's sink wins
        ("claude-sonnet-5-5", None, Target("claude-sonnet-5-5", "claude-sonnet-5-5", "cli")),
        ("gpt-5-mini", None, Target("gpt-5-mini", "claude-haiku-5", "cli")),
    ],
)
def test_a_name_resolves_to_its_target(name, forced, expected):
    assert TABLE.resolve(name, forced, never) == expected


def test_an_unknown_name_lists_the_known_ones_unless_the_sink_takes_any():
    with pytest.raises(ModelNotFound) as caught:
        TABLE.resolve("gpt-3", None, never)
    assert "opus" in caught.value.message and "best" in caught.value.message
    assert TABLE.resolve("gpt-3", "api", lambda sink: sink == "api") == Target(
        "gpt-3", "gpt-3", "api"
    )


def test_listed_names_keep_the_file_order_and_the_first_definition():
    table = ModelTable((*RULES, ModelRule(name="best", target="other")), "cli")
    assert [name for name, _ in table.listed()] == ["opus", "gpt-4o", "best", "haiku"]
    assert table.resolve("best", None, never).model == "claude-opus-5-5"
