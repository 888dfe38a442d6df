"""One stored response: the Response object as the client received it, and the request's own
input items (references resolved, every item with an id), as one JSON document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..wire.json_codec import dumps, loads

__all__ = ["StoredResponse"]


@dataclass(slots=True)
class StoredResponse:
    id: str
    owner: str
    #: The Response object (``object: "response"``) with its ``output`` items.
    response: dict[str, Any]
    #: The request's own input items, without those of the responses it continues.
    input: list[dict[str, Any]] = field(default_factory=list)
    previous_id: str | None = None
    created_at: float = 0.0

    @property
    def output(self) -> list[dict[str, Any]]:
        return [item for item in self.response.get("output") or [] if isinstance(item, dict)]

    def items(self) -> list[dict[str, Any]]:
        """Its part of a conversation, in order: its input, then its output."""
        return [*self.input, *self.output]

    def item(self, item_id: str) -> dict[str, Any] | None:
        """The output or input item of this id (an output item first: it was minted here)."""
        return next((item for item in (*self.output, *self.input) if item.get("id") == item_id),
                    None)  # fmt: skip

    def item_ids(self) -> list[str]:
        """The ids items of it may be referred to by, each once."""
        ids = (item.get("id") for item in (*self.output, *self.input))
        return list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))

    def document(self) -> bytes:
        return dumps({"response": self.response, "input": self.input})

    @classmethod
    def from_document(
        cls, response_id: str, owner: str, document: bytes | str, previous_id: str | None,
        created_at: float,
    ) -> StoredResponse:  # fmt: skip
        data = loads(document)
        return cls(response_id, owner, data["response"], data["input"], previous_id, created_at)
