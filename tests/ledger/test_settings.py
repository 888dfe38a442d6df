"""Where the ledger goes: the usage section of routes.yaml, its defaults and its errors."""

from __future__ import annotations

import pytest

from gateway.config import load_config
from gateway.config.yaml_source import ConfigError
from gateway.ledger.settings import LedgerSettings

BASE = """
version: 1
sinks:
  up: {kind: http, base_url: "http://127.0.0.1:9", dialect: anthropic.messages}
routes:
  - {path: /v1/messages, dialect: anthropic.messages}
"""


def test_sqlite_beside_routes_yaml_by_default(write_config, monkeypatch):
    monkeypatch.delenv("GATEWAY_USAGE_DB", raising=False)
    path = write_config(BASE)
    settings = LedgerSettings.from_config(load_config(path))
    assert (settings.backend, settings.path) == ("sqlite", path.parent / "usage.db")
    assert settings.enabled and settings.retention_days == 90


def test_a_named_path_is_relative_to_routes_yaml_and_wins(write_config, monkeypatch, tmp_path):
    monkeypatch.setenv("GATEWAY_USAGE_DB", str(tmp_path / "elsewhere.db"))
    assert (
        LedgerSettings.from_config(load_config(write_config(BASE))).path
        == tmp_path / "elsewhere.db"
    )
    path = write_config(BASE + "usage: {path: data/ledger.db, retention_days: 0}\n")
    settings = LedgerSettings.from_config(load_config(path))
    assert (settings.path, settings.retention_days) == (tmp_path / "data" / "ledger.db", 0)


def test_a_postgres_url_and_its_password_kept_out_of_logs(write_config):
    path = write_config(BASE + "usage: {url: 'postgresql://gw:s3cret@db:5432/usage'}\n")
    settings = LedgerSettings.from_config(load_config(path))
    assert (settings.backend, settings.path) == ("postgresql", None)
    assert settings.location == "postgresql://gw@db:5432/usage"


@pytest.mark.parametrize(
    ("usage", "message"),
    [
        ("{url: 'mysql://x'}", "does not match"),
        ("{retention_days: -1}", "less than the minimum"),
        ("{bucket: 3}", "'bucket' was unexpected"),
    ],
)
def test_bad_settings_are_refused_at_their_line(write_config, usage, message):
    with pytest.raises(ConfigError) as refused:
        load_config(write_config(BASE + f"usage: {usage}\n"))
    assert message in str(refused.value) and "routes.yaml:6:" in str(refused.value)
