"""The routing examples of docs/configuration.md and the commented ones of routes.yaml load as
written, and route as their comments say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from paths import REPO

from gateway.config import load_config
from gateway.config.routing import Facts
from gateway.server.plugins import build_plugin_manager
from gateway.server.runtime import Runtime, build_runtime

BASE = {
    "version": 1,
    "default_sink": "claude",
    "sinks": {
        "claude": {"kind": "cli"},
        "claude-sdk": {"kind": "sdk"},
        "anthropic-api": {
            "kind": "http",
            "dialect": "anthropic.messages",
            "base_url": "http://127.0.0.1:9",
        },
        "anthropic-api-eu": {
            "kind": "http",
            "dialect": "anthropic.messages",
            "base_url": "http://127.0.0.1:9",
        },
    },
    "models": [{"name": "opus"}, {"name": "haiku"}],
    "routes": [{"path": "/v1/messages", "dialect": "anthropic.messages"}],
}


def docs_examples() -> list[dict]:
    text = (REPO / "docs" / "configuration.md").read_text()
    section = text[text.index("## Targets") : text.index("## routes and mounts")]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def runtime_of(tmp_path: Path, document: dict) -> Runtime:
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    config = load_config(path)
    return build_runtime(config, build_plugin_manager(config))


def merged(example: dict) -> dict:
    document = {**BASE, "sinks": {**BASE["sinks"]}, "models": [*BASE["models"]]}
    for key, value in example.items():
        if key == "models":
            document["models"] += value
        elif key == "sinks":
            for name, options in value.items():
                document["sinks"][name] = {**document["sinks"].get(name, {}), **options}
        else:
            document[key] = value
    return document


def test_there_are_examples_of_targets_defaults_mounts_rules_and_limits():
    assert [sorted(example) for example in docs_examples()] == [
        ["models"], ["routing"], ["mounts"], ["models"], ["sinks"],
    ]  # fmt: skip


@pytest.mark.parametrize("index", range(5))
def test_each_docs_example_loads_and_routes(tmp_path, index):
    runtime = runtime_of(tmp_path, merged(docs_examples()[index]))
    route = runtime.router.match("/v1/messages")
    if index == 0:
        plan = runtime.resolve("sonnet", route)
        assert [t.key for t in plan.targets] == ["claude/sonnet", "anthropic-api/claude-sonnet-5-5"]
        assert plan.retry.attempts == 2 and "rate_limited" not in plan.fallback_on
    elif index == 2:
        plan = runtime.resolve("opus", runtime.router.match("/api/v1/messages"))
        assert [t.sink for t in plan.targets] == ["anthropic-api", "anthropic-api-eu"]
    elif index == 3:
        facts = Facts({"thinking": {"type": "enabled"}}, {}, None)
        assert runtime.resolve("claude-sonnet-5-5", route, facts).rule == "think"
        facts = Facts({"messages": [{"role": "user", "content": "x"}]}, {"x-job": "ci-7"}, None)
        plan = runtime.resolve("claude-sonnet-5-5", route, facts)
        assert plan.rule == "ci-to-the-api" and plan.primary.sink == "anthropic-api"
        haiku = runtime.resolve("claude-3-5-haiku", route, Facts({}, {}, None))
        assert (haiku.rule, haiku.primary.model) == ("background", "haiku")
    elif index == 4:
        assert runtime.config.sinks["claude"].when_limited == "fallback"


def starter_examples() -> list[str]:
    return re.findall(r"^  # example: (\S+)$", (REPO / "routes.yaml").read_text(), re.M)


@pytest.mark.parametrize("name", starter_examples())
def test_each_commented_example_of_routes_yaml_works_uncommented(tmp_path, name):
    lines = (REPO / "routes.yaml").read_text().splitlines(keepends=True)
    start = lines.index(f"  # example: {name}\n") + 1
    end = start
    while end < len(lines) and lines[end].startswith("  # ") and "example:" not in lines[end]:
        lines[end] = "  " + lines[end][4:]
        end += 1
    for folder in ("transforms", "schemas", "hooks"):
        (tmp_path / folder).symlink_to(REPO / folder)
    (tmp_path / "routes.yaml").write_text("".join(lines))
    config = load_config(tmp_path / "routes.yaml")
    runtime = build_runtime(config, build_plugin_manager(config))
    entry = yaml.safe_load("".join(lines[start:end]))[0]
    plan = runtime.resolve(entry["name"], runtime.router.match("/v1/messages"), Facts({}, {}, None))
    if "targets" in entry:
        assert [t.sink for t in plan.targets] == [t["sink"] for t in entry["targets"]]
        assert plan.strategy == entry["strategy"]
    thinking = Facts({"reasoning_effort": "high"}, {}, None)
    if "rules" in entry:
        assert (
            runtime.resolve(entry["name"], runtime.router.match("/v1/messages"), thinking).rule
            == "think"
        )


def test_the_starter_config_retries_overloads_and_falls_back_nowhere_by_default():
    config = load_config(REPO / "routes.yaml")
    assert config.routing.retry.attempts == 2 and config.routing.retry.on == {"overloaded"}
    assert all(len(model.targets) <= 1 and not model.rules for model in config.models)
