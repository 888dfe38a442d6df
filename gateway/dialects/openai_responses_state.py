"""OpenAI Responses' state, read off a request body before it is decoded: what it refers to
(``previous_response_id``, ``item_reference`` items, reasoning items sent by id alone), the body
with those references replaced by the stored items, and the request's own input as it is
stored (every item with an id, as ``input_items`` lists them).

Pure: the caller looks up what :func:`references` names in its store and hands the finds to
:func:`expand`; the decoder then reads the expanded body as any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest, NotFound
from .openai_responses_out import new_item_id

__all__ = [
    "ECHOED",
    "Expanded",
    "References",
    "echoed_fields",
    "expand",
    "previous_not_found",
    "references",
    "stores",
]

#: Fields of the request a Response repeats, as OpenAI's does.
ECHOED = ("previous_response_id", "instructions", "metadata", "store")

#: The prefix of the ids minted for input items, by type; a message's is ``msg``.
_ID_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
}
_REFERENCE = "item_reference"


@dataclass(slots=True)
class References:
    """What a request refers to in the store."""

    previous_response_id: str | None = None
    #: Ids of ``item_reference`` items: each must be found.
    required: list[str] = field(default_factory=list)
    #: Ids of reasoning items sent without their content: used when found.
    optional: list[str] = field(default_factory=list)

    @property
    def item_ids(self) -> list[str]:
        return list(dict.fromkeys(self.required + self.optional))


@dataclass(slots=True)
class Expanded:
    #: The body the decoder reads: the conversation so far, then the request's own input.
    body: dict[str, Any]
    #: The request's own input as stored: references replaced, every item with an id.
    own_input: list[dict[str, Any]]
    #: How many items of ``body["input"]`` come before the request's own.
    history_length: int = 0


def stores(body: Mapping[str, Any]) -> bool:
    """The request asks for its response to be kept: ``store`` is true or absent (the API's
    default)."""
    store = body.get("store", True)
    if store is not None and not isinstance(store, bool):
        raise InvalidRequest("store: expected a boolean", param="store")
    return store is not False


def references(body: Mapping[str, Any]) -> References:
    """What ``body`` refers to; a 400 for a reference that is not an id."""
    found = References()
    previous = body.get("previous_response_id")
    if previous is not None:
        if not isinstance(previous, str) or not previous:
            raise InvalidRequest(
                "previous_response_id: expected the id of a stored response (resp_...)",
                param="previous_response_id",
            )
        found.previous_response_id = previous
    items = body.get("input")
    if not isinstance(items, list):
        return found
    for i, item in enumerate(items):
        if _is_reference(item):
            found.required.append(_reference_id(item, i))
        elif _is_bare_reasoning(item):
            found.optional.append(item["id"])
    return found


def expand(
    body: Mapping[str, Any], history: list[dict[str, Any]], found: Mapping[str, dict[str, Any]]
) -> Expanded:
    """``body`` with the conversation of its previous response (``history``: its items in
    order) before its own input, and the items it refers to (``found``, by id) in place of the
    references. ``instructions`` stay the request's own: a previous response's are not
    inherited, as in OpenAI's API."""
    raw = body.get("input")
    expanded = {k: v for k, v in body.items() if k != "previous_response_id"}
    if isinstance(raw, str):
        own = [_stored({"role": "user", "content": raw})]
    elif isinstance(raw, list):
        own = [_resolved(item, i, found) for i, item in enumerate(raw)]
    elif raw is None:
        own = []
    else:  # the decoder says what is wrong with it
        return Expanded(expanded, [], 0)
    if own or history:
        expanded["input"] = [*history, *own]
    stored = [item for item in own if isinstance(item, dict)]
    return Expanded(expanded, stored, len(history))


def echoed_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's fields its Response repeats, with the API's defaults."""
    echoed = {name: body.get(name) for name in ECHOED}
    echoed["metadata"] = echoed["metadata"] or {}
    echoed["store"] = echoed["store"] is not False
    return echoed


def previous_not_found(response_id: str) -> InvalidRequest:
    """OpenAI's answer to a ``previous_response_id`` it does not have (a 400, not a 404)."""
    return InvalidRequest(
        f"Previous response with id '{response_id[:200]}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def _is_reference(item: Any) -> bool:
    """An ``item_reference``; its ``type`` may be left out, leaving an object with only an id."""
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    return kind == _REFERENCE or (kind is None and "id" in item and set(item) <= {"id", "type"})


def _reference_id(item: dict[str, Any], index: int) -> str:
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise InvalidRequest(
            f"input[{index}].id: an item_reference needs the id of a stored item",
            param=f"input[{index}].id",
        )
    return item_id


def _is_bare_reasoning(item: Any) -> bool:
    """A reasoning item sent back by id alone (the Agents SDK and LangChain replay them so):
    its content is the stored item's."""
    return (
        isinstance(item, dict)
        and item.get("type") == "reasoning"
        and isinstance(item.get("id"), str)
        and not item.get("encrypted_content")
        and not item.get("content")
        and not item.get("summary")
    )


def _resolved(item: Any, index: int, found: Mapping[str, dict[str, Any]]) -> Any:
    if _is_reference(item):
        stored = found.get(item["id"])
        if stored is None:
            raise NotFound(
                f"Item with id '{item['id'][:200]}' not found. Items are not persisted when "
                "`store` is set to false, nor kept for another key. Try again with `store` set "
                "to true, or remove this item from your input.",
                param="input",
            )
        return dict(stored)
    if _is_bare_reasoning(item) and item["id"] in found:
        return dict(found[item["id"]])
    return _stored(item) if isinstance(item, dict) else item


def _stored(item: dict[str, Any]) -> dict[str, Any]:
    """An input item as ``input_items`` lists it: typed, with an id and a status, a message's
    text as content parts."""
    kind = item.get("type", "message")
    if not isinstance(kind, str) or kind not in _ID_PREFIXES:
        return item
    stored = {"type": kind, **item}
    if not isinstance(stored.get("id"), str) or not stored["id"]:
        stored["id"] = new_item_id(_ID_PREFIXES[kind])
    stored.setdefault("status", "completed")
    content = stored.get("content")
    if kind == "message" and isinstance(content, str):
        if stored.get("role") == "assistant":
            stored["content"] = [{"type": "output_text", "text": content, "annotations": []}]
        else:
            stored["content"] = [{"type": "input_text", "text": content}]
    return stored
