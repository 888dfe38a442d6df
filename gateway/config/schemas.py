"""The gateway's own JSON Schemas (packaged in gateway/schemas/) and checking a document
against one, every violation reported at its file:line:col."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from .yaml_source import JsonPath, Located, Problem

__all__ = ["gateway_schema", "refused_paths", "validate_with_schema"]

# The gateway's own schemas travel in the package (gateway/schemas/), so a wheel finds them too.
_SCHEMAS = resources.files("gateway") / "schemas"


def gateway_schema(name: str) -> Traversable:
    """One of the gateway's packaged schemas, e.g. ``sinks/cli.schema.json``."""
    resource = _SCHEMAS
    for part in name.split("/"):
        resource = resource / part
    return resource


@cache
def _schema(name: str) -> jsonschema.protocols.Validator:
    return _validator(json.loads(gateway_schema(name).read_text(encoding="utf-8")))


def _validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_with_schema(
    document: Located, data: Any, schema: str | Mapping[str, Any], at: JsonPath = ()
) -> list[Problem]:
    """Every violation by ``data`` of ``schema`` (a schema of the gateway's, by file name, or a
    plugin's own, as a dict), found at ``at`` in ``document``."""
    problems = []
    validator = _schema(schema) if isinstance(schema, str) else _validator(schema)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
        if error.validator in ("oneOf", "anyOf") and error.context:
            error = best_match(error.context)
        path = (*at, *error.absolute_path)
        at_key = False
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # Point at the first unexpected key rather than at the object holding it.
            allowed = error.schema.get("properties", {})
            extra = [key for key in error.instance if key not in allowed]
            if extra:
                path, at_key = (*path, extra[0]), True
        message = error.message
        unset = document.unset_env.get(path)
        if unset:
            message += f" (the environment variable {', '.join(unset)} is not set)"
        problems.append(document.problem(path, message, at_key=at_key))
    return problems


def refused_paths(data: Any, schema: str) -> list[JsonPath]:
    """Where ``data`` breaks a schema of the gateway's: the path of each violation."""
    return [tuple(error.absolute_path) for error in _schema(schema).iter_errors(data)]
