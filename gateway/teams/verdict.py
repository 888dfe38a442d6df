"""What a limit state answers when asked to admit a request: admitted or why not, and what is
left of each limit (for the rate-limit headers)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Verdict"]


@dataclass(frozen=True, slots=True)
class Verdict:
    #: None when admitted, else the limit that refused: "requests", "tokens" or "concurrency".
    refused: str | None
    #: Requests counted in the current window, this one included when admitted.
    requests: int
    #: Seconds until the request window ends (a whole window when none has started).
    requests_reset: float
    tokens: int
    tokens_reset: float
    in_flight: int
    #: A concurrency slot is held and must be given back when the request ends.
    holds_slot: bool = False

    @property
    def admitted(self) -> bool:
        return self.refused is None
