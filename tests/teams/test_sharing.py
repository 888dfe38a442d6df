"""`gateway serve` warns when named keys of several people can reach a sink that answers with
one person's own Claude login; not when the keys cannot reach it, nor when it uses an API key."""

from __future__ import annotations

from gateway.config import load_config
from gateway.server.plugins import build_plugin_manager, sink_kinds
from gateway.teams.sharing import keys_reaching, shared_login_warnings

ROUTES = """
version: 1
sinks:
  claude: {kind: cli}
  claude-sdk: {kind: sdk, env: {ANTHROPIC_API_KEY: sk-team}}
  api: {kind: http, base_url: "http://127.0.0.1:9", dialect: anthropic.messages}
models:
  - name: opus
  - name: team-opus
    sink: claude-sdk
routes:
  - {path: /v1/messages, dialect: anthropic.messages}
  - {path: /api/v1/messages, dialect: anthropic.messages, sink: api}
mounts:
  - {prefix: /sdk, sink: claude-sdk}
auth:
  keys:
    - {name: alice, hash: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
    - {name: bob, hash: "sha256:1000000000000000000000000000000000000000000000000000000000000000", models: ["claude-*", opus]}
    - {name: ci, hash: "sha256:2000000000000000000000000000000000000000000000000000000000000000", routes: [/api/v1/messages]}
    - {name: eve, hash: "sha256:3000000000000000000000000000000000000000000000000000000000000000", models: [team-opus]}
"""


def test_only_keys_that_can_reach_a_personal_login_are_named(write_config):
    config = load_config(write_config(ROUTES))
    kinds = sink_kinds(build_plugin_manager(config))
    assert keys_reaching(config, "claude") == ["alice", "bob"]
    assert keys_reaching(config, "claude-sdk") == ["alice", "bob", "eve"]
    warnings = shared_login_warnings(config, kinds, {})
    # The SDK sink runs with an API key: a team may share that.
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "2 named keys (alice, bob) can reach the sink 'claude' (kind cli)"
    )
    assert "Anthropic's consumer terms" in warnings[0]
    assert shared_login_warnings(config, kinds, {"ANTHROPIC_API_KEY": "sk-x"}) == []
