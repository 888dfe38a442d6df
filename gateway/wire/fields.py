"""Small readers that pull typed fields out of decoded JSON, or say exactly what is wrong."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}

_MISSING = object()


def describe(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


def _matches(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


def get(
    obj: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    path: str,
    *,
    required: bool = False,
    default: Any = None,
) -> Any:
    """``obj[key]`` if it has the expected type; ``default`` if absent or null and optional."""
    value = obj.get(key, _MISSING)
    if type(value) is kind:  # the common case, decided without building anything
        return value
    if value is _MISSING or value is None:
        if required:
            where = f"{path}.{key}" if path else key
            raise InvalidRequest(f"{where}: field required", param=where)
        return default
    if not _matches(value, kind):
        where = f"{path}.{key}" if path else key
        kinds = kind if isinstance(kind, tuple) else (kind,)
        wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise InvalidRequest(f"{where}: expected {wanted}, got {describe(value)}", param=where)
    return value


def number_in(obj: dict[str, Any], key: str, path: str, low: float, high: float) -> float | None:
    value = get(obj, key, float, path)
    if value is not None and not low <= value <= high:
        raise InvalidRequest(
            f"{path + '.' if path else ''}{key}: must be between {low:g} and {high:g}, got {value}",
            param=key,
        )
    return value


def positive_int(obj: dict[str, Any], key: str, path: str, *, required: bool = False) -> int | None:
    value = get(obj, key, int, path, required=required)
    if value is not None and value < 1:
        raise InvalidRequest(f"{key}: must be at least 1, got {value}", param=key)
    return value


def object_at(items: list[Any], index: int, path: str) -> dict[str, Any]:
    item = items[index]
    if not isinstance(item, dict):
        raise InvalidRequest(
            f"{path}[{index}]: expected an object, got {describe(item)}", param=f"{path}[{index}]"
        )
    return item


def stop_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise InvalidRequest(f"{key}: expected a string or an array of strings", param=key)
    return list(items)
