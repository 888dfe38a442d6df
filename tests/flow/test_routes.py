"""The route table, pure: paths to Routes holding their Endpoint, mounts and /v1 aliases."""

from __future__ import annotations

import pytest
from paths import REPO

from gateway.config import load_config
from gateway.config.yaml_source import ConfigError
from gateway.flow.endpoints import Endpoint, EndpointTable
from gateway.flow.routes import Router


async def _serve(call):  # never called: the table is only built
    raise AssertionError


ENDPOINTS = EndpointTable(
    [
        Endpoint("openai.chat", _serve, mountable=True, calls_sink=True),
        Endpoint("custom", _serve, calls_sink=True),
        Endpoint("models", _serve, methods=("GET",), paths=("/v1/models",),
                 mounted_paths=("/v1/models",)),
        Endpoint("health", _serve, methods=("GET",), paths=("/health",), authenticated=False),
    ]
)  # fmt: skip


@pytest.fixture
def config(write_config):
    return load_config(
        write_config(
            """
            version: 1
            sinks:
              cli: {kind: cli}
              api: {kind: http, dialect: anthropic.messages, base_url: "http://127.0.0.1:9"}
            mounts:
              - {prefix: /api, sink: api}
            routes:
              - {path: /v1/chat/completions, dialect: openai.chat}
              - {path: /chat, dialect: custom, sink: cli}
            """
        )
    )


def test_a_path_finds_its_route_and_the_route_its_endpoint(config):
    router = Router(config, ENDPOINTS)
    chat = router.match("/v1/chat/completions")
    assert chat is not None and chat.endpoint is ENDPOINTS["openai.chat"] and chat.sink is None
    assert router.match("/v1/chat/completions/") is chat  # a trailing slash
    assert router.match("/chat/completions") is chat  # the root as a base URL
    assert router.match("/health").endpoint.name == "health"
    assert router.match("/nowhere") is None


def test_a_mount_repeats_the_standard_routes_and_its_own_paths_with_its_sink(config):
    router = Router(config, ENDPOINTS)
    mounted = router.match("/api/v1/chat/completions")
    assert (mounted.endpoint.name, mounted.sink, mounted.mount) == ("openai.chat", "api", "/api")
    assert router.match("/api/v1/models").sink == "api"
    assert router.match("/api/chat") is None  # custom routes are not standard: not mounted
    assert router.match("/chat").via.sink == "cli" and mounted.via.sink == "api"
    assert sorted(r.path for r in router) == [
        "/api/v1/chat/completions", "/api/v1/models", "/chat", "/health",
        "/v1/chat/completions", "/v1/models",
    ]  # fmt: skip


def test_a_dialect_no_plugin_registers_is_a_config_error(config):
    with pytest.raises(ConfigError) as caught:
        Router(config, EndpointTable([e for e in ENDPOINTS if e.name != "custom"]))
    [problem] = caught.value.problems
    assert "routes[1].dialect: no endpoint 'custom'" in str(problem)


def test_the_default_config_routes_every_documented_endpoint():
    from gateway.server.plugins import build_plugin_manager
    from gateway.server.runtime import endpoint_table

    config = load_config(REPO / "routes.yaml")
    router = Router(config, endpoint_table(build_plugin_manager(config)))
    documented = ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/openai/v1/models",
                  "/sdk/v1/messages", "/api/v1/messages", "/api/chat", "/metrics", "/dashboard"]  # fmt: skip
    assert [path for path in documented if router.match(path) is None] == []


def test_an_endpoint_serves_the_paths_below_every_route_to_another(write_config):
    """Sub-path routes (``below``): /v1/responses/{id} wherever the Responses endpoint is
    routed, mounted and unversioned paths included; exact paths are matched first."""
    table = EndpointTable(
        [
            Endpoint("openai.responses", _serve, mountable=True, calls_sink=True),
            Endpoint("stored", _serve, methods=("GET", "DELETE"), below="openai.responses"),
            Endpoint("custom", _serve, calls_sink=True),
        ]
    )
    config = load_config(
        write_config(
            """
            version: 1
            sinks:
              cli: {kind: cli}
              api: {kind: http, dialect: anthropic.messages, base_url: "http://127.0.0.1:9"}
            mounts:
              - {prefix: /api, sink: api}
            routes:
              - {path: /v1/responses, dialect: openai.responses}
              - {path: /v1/responses/special, dialect: custom}
            """
        )
    )
    router = Router(config, table)
    stored = router.match("/v1/responses/resp_1")
    assert (stored.endpoint.name, stored.path, stored.prefix) == (
        "stored", "/v1/responses/*", "/v1/responses/",
    )  # fmt: skip
    assert router.match("/v1/responses/resp_1/input_items") is stored
    assert router.match("/responses/resp_1").prefix == "/responses/"
    mounted = router.match("/api/v1/responses/resp_1")
    assert (mounted.prefix, mounted.sink, mounted.mount) == ("/api/v1/responses/", "api", "/api")
    assert router.match("/v1/responses").endpoint.name == "openai.responses"
    assert router.match("/v1/responses/").endpoint.name == "openai.responses"
    assert router.match("/v1/responses/special").endpoint.name == "custom"
    assert router.match("/v1/responsesX/1") is None
    assert "/v1/responses/*" in [r.path for r in router]
