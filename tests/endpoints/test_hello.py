"""Claude Code's start-up probe, ``HEAD <base>/api/hello``, answered under every base URL: the
root and each mount. CLI 2.1.330 sends it when CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC is unset
(seen against the mock upstream), which the tests cannot leave unset (the CLI would then call
other hosts), so it is sent here as the CLI sends it."""

from __future__ import annotations

import httpx

ROUTES = """
version: 1
auth: {token: gateway-token}
sinks:
  claude: {kind: cli}
routes:
  - {path: /v1/messages, dialect: anthropic.messages}
mounts:
  - {prefix: /openai}
  - {prefix: /api}
access_log: {enabled: false}
"""


def test_the_probe_is_answered_at_every_base_url_without_credentials(serve, write_config):
    served = serve(write_config(ROUTES))
    for base in ("", "/openai", "/api"):
        probe = httpx.head(served.url + base + "/api/hello")
        assert (probe.status_code, probe.content) == (200, b""), base
    assert httpx.get(served.url + "/api/hello").status_code == 200
    refused = httpx.post(served.url + "/api/hello", json={})
    assert refused.status_code == 405 and refused.headers["allow"] == "HEAD, GET"
    # Anything else still asks for the token.
    assert httpx.get(served.url + "/api/v1/models").status_code == 401


def test_a_head_is_answered_without_an_error_logged(serve, write_config, caplog):
    served = serve(write_config(ROUTES))
    with caplog.at_level("ERROR"):
        for _ in range(3):
            assert httpx.head(served.url + "/api/hello").status_code == 200
        # The next request on the server shows the HEADs were handled to their end.
        assert httpx.get(served.url + "/api/hello").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
