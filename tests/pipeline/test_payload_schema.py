"""The fast path and the full report of transform schemas agree."""

from __future__ import annotations

import pytest

from gateway.pipeline.payload_schema import PayloadSchema

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["prompt"],
    "additionalProperties": False,
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "n": {"type": "integer", "maximum": 3},
    },
}


def test_valid_payload_has_no_violations():
    assert PayloadSchema(SCHEMA).violations({"prompt": "hi", "n": 2}) == []


def test_every_violation_is_listed_with_its_path():
    assert set(PayloadSchema(SCHEMA).violations({"n": 9, "extra": True})) == {
        "$: 'prompt' is a required property",
        "$: Additional properties are not allowed ('extra' was unexpected)",
        "$.n: 9 is greater than the maximum of 3",
    }


@pytest.mark.parametrize(
    ("schema", "bad"),
    [
        # Keywords newer than draft 7 must still be enforced (by jsonschema alone).
        ({"type": "array", "prefixItems": [{"type": "integer"}]}, ["not an integer"]),
        ({"type": "object", "dependentRequired": {"a": ["b"]}}, {"a": 1}),
        ({"type": "string", "format": "email"}, "not an e-mail"),
    ],
)
def test_newer_keywords_are_enforced(schema, bad):
    assert PayloadSchema(schema).violations(bad) != []
