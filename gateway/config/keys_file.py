"""Named client keys from ``auth.keys`` and the file ``auth.keys_file`` names, checked against
keys.schema.json; every problem reported at its file:line:col."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..teams.keys import ClientKey, KeyRing, key_from_entry
from .schemas import validate_with_schema
from .yaml_source import ConfigError, JsonPath, Located, load_yaml

__all__ = ["load_keys"]


def load_keys(
    document: Located, auth: Mapping[str, Any], base_dir: Path
) -> tuple[KeyRing, Path | None]:
    """The keys of ``auth.keys`` and of the file ``auth.keys_file`` names (and that file)."""
    problems = []
    entries: list[tuple[Located, JsonPath, dict[str, Any]]] = []
    if "keys" in auth:
        found = validate_with_schema(
            document, {"keys": auth["keys"]}, "keys.schema.json", ("auth",)
        )
        problems += found
        if not found:
            entries += [(document, ("auth", "keys", i), k) for i, k in enumerate(auth["keys"])]
    keys_file = None
    if auth.get("keys_file"):
        keys_file = (base_dir / auth["keys_file"]).resolve()
        if not keys_file.is_file():
            raise ConfigError(
                [document.problem(("auth", "keys_file"), f"no keys file at {keys_file}")]
            )
        other = load_yaml(keys_file)
        other.file = str(keys_file)
        found = validate_with_schema(other, other.data, "keys.schema.json")
        problems += found
        if not found:
            entries += [(other, ("keys", i), k) for i, k in enumerate(other.data["keys"])]
    keys: list[ClientKey] = []
    names: dict[str, str] = {}
    digests: dict[bytes, str] = {}
    for source, path, raw in entries:
        key = key_from_entry(raw)
        if key.name in names:
            message = f"'{key.name}' is already the name of a key in {names[key.name]}"
            problems.append(source.problem((*path, "name"), message))
        elif key.digest in digests:
            message = f"the same key as '{digests[key.digest]}' (every key needs its own)"
            problems.append(source.problem((*path, "hash"), message))
        else:
            names[key.name], digests[key.digest] = source.file, key.name
            keys.append(key)
    if problems:
        raise ConfigError(problems)
    return KeyRing(tuple(keys)), keys_file
