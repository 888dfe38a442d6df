"""What a model writes as structured input, shared by the OpenAI codecs: the string of a
freeform tool call decoded as its JSON streams in, and schemas closed for Claude."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["FreeformInput", "closed_objects"]


_HIGH_SURROGATES = ("d8", "d9", "da", "db")


class FreeformInput:
    """The string a freeform tool call writes, decoded as the JSON of ``{"input": "..."}``
    arrives in fragments: each ``feed`` returns the characters that became complete."""

    def __init__(self) -> None:
        self._raw = ""
        self._at: int | None = None  # where the string's characters start in _raw
        self._done = False

    def feed(self, fragment: str) -> str:
        if self._done:
            return ""
        self._raw += fragment
        if self._at is None:
            found = re.search(r'"input"\s*:\s*"', self._raw)
            if found is None:
                return ""
            self._at = found.end()
        out: list[str] = []
        while self._at < len(self._raw):
            char = self._raw[self._at]
            if char == '"':
                self._done = True  # the string is complete: the rest is not part of it
                break
            if char != "\\":
                out.append(char)
                self._at += 1
                continue
            size = 6 if self._raw[self._at + 1 : self._at + 2] == "u" else 2
            if size == 6 and self._raw[self._at + 2 : self._at + 4].lower() in _HIGH_SURROGATES:
                after = self._raw[self._at + 6 : self._at + 8]
                if len(after) < 2 and not self._raw[self._at + 6 :].startswith('"'):
                    break  # whether a low half follows is in the next fragment
                if after == "\\u":
                    size = 12  # a surrogate pair: one character in two escapes
            escape = self._raw[self._at : self._at + size]
            if len(escape) < size:
                break  # the rest of the escape is in the next fragment
            out.append(json.loads(f'"{escape}"'))
            self._at += size
        return "".join(out)


_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def closed_objects(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that does not say.

    Claude's structured outputs need it on every object; OpenAI's non-strict schemas leave it
    out. An answer that follows the closed schema follows the client's too.
    """
    if isinstance(schema, list):
        return [closed_objects(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SUBSCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: closed_objects(sub) for name, sub in out[key].items()}
    for key in (*_SUBSCHEMA_LISTS, "items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict | list):
            out[key] = closed_objects(out[key])
    is_object = out.get("type") == "object" or (
        isinstance(out.get("type"), list) and "object" in out["type"]
    )
    if (is_object or "properties" in out) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out
