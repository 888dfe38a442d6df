"""Configuration: routes.yaml loaded with line numbers, checked, and frozen into a Config.

yaml_source.py   YAML with file:line:col for every node, duplicate keys refused
schemas.py       the packaged JSON Schemas, every violation reported at once
load.py          load_config(path) -> Config: parse, validate, build, check references
checks.py        what a schema cannot check (references, names taken twice)
keys_file.py     named client keys from auth.keys or the file auth.keys_file names
model.py         the frozen Config and its parts
routing.py       pure tables: a path to a Route, a model name to a Target
exposure.py      serving beyond localhost: public URL, CORS, trusted proxies
starter.py       the packaged starter configuration (`gateway init`)
"""

from .load import load_config
from .model import (
    Config,
    Limits,
    ModelRule,
    MountConfig,
    RouteConfig,
    SinkConfig,
)
from .schemas import gateway_schema, validate_with_schema
from .yaml_source import ConfigError, Problem

__all__ = [
    "Config",
    "ConfigError",
    "Limits",
    "ModelRule",
    "MountConfig",
    "Problem",
    "RouteConfig",
    "SinkConfig",
    "gateway_schema",
    "load_config",
    "validate_with_schema",
]
