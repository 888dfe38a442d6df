"""The part of a routes file that its schema accepts, so that the checks after the schema run too.

A file with a typo in one route still has its other routes, sinks and models: ``gateway check``
builds a configuration from them and checks their references, transforms and plugins, so that
every problem of the file is reported in one pass. An entry the schema refuses (a route, a sink,
a model, one setting) is left out whole, and the problems of the later checks are not reported
for it again. Entries keep their numbers in what is reported (``routes[3]`` stays ``routes[3]``
when ``routes[1]`` is left out). Such a configuration is only ever checked, never served.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from .yaml_source import JsonPath, Located

__all__ = ["Remainder", "valid_part"]

# Sections that must be there for anything to be built from the file.
_REQUIRED = ("sinks", "routes")


class Remainder:
    """What is left of a document once the entries its schema refuses are taken out."""

    def __init__(self, document: Located, dropped_sinks: frozenset[str]) -> None:
        self.document = document
        #: Sinks that are defined, though wrongly: naming one is not another problem.
        self.dropped_sinks = dropped_sinks


def valid_part(document: Located, refused: list[JsonPath]) -> Remainder | None:
    """``document`` without the entries at ``refused`` (paths of schema violations), or None when
    the file's own shape is wrong (not a mapping, a required section missing or of a wrong type)."""
    data = document.data
    if not isinstance(data, dict):
        return None
    data = copy.deepcopy(data)
    dropped: dict[str, set[Any]] = {}
    for path in refused:
        if not path or (len(path) == 1 and path[0] in _REQUIRED):
            return None
        section = path[0]
        if len(path) == 1 or not isinstance(data.get(section), (dict, list)):
            data.pop(section, None)
            continue
        dropped.setdefault(section, set()).add(path[1])
    renumbered: dict[str, list[int]] = {}
    for section, keys in dropped.items():
        if section not in data:
            continue
        value = data[section]
        if isinstance(value, list):
            kept = [i for i in range(len(value)) if i not in keys]
            data[section] = [value[i] for i in kept]
            renumbered[section] = kept
        else:
            for key in keys:
                value.pop(key, None)
    if not data.get("sinks"):
        return None
    sinks = frozenset(str(name) for name in dropped.get("sinks", ()))
    return Remainder(replace(document, data=data, renumbered=renumbered), sinks)
