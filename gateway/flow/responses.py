"""``POST /v1/responses``: one completion (complete.py) with OpenAI Responses' state around it.

Before: the body's references are looked up in the response store (services.responses) and
expanded (dialects/openai_responses_state.py): the conversation ``previous_response_id`` ends
goes before the request's own input, and ``item_reference`` items become the items they name;
the decoder then reads an ordinary stateless body. After: unless ``store`` is false, the
Response as the client got it is saved with the request's own input: a whole answer before it
is sent, a stream before its last event (stream.py tells the recorder below), one that fails
or is abandoned as ``failed`` or ``incomplete``. The stream is never held back for it.
"""

from __future__ import annotations

import re
from typing import Any

from ..dialects import DIALECTS, OPENAI, openai_responses
from ..dialects import openai_responses_state as state
from ..errors import InvalidRequest
from ..response_store.service import ResponseStore, owner_of
from .answers import StreamedAnswer, WholeAnswer, json_response
from .body import read_json_body
from .complete import Asked, complete
from .deadline import Deadline
from .endpoints import Call, Endpoint
from .relay import send_relayed
from .stream import send_stream

__all__ = ["RESPONSES_ENDPOINT", "serve_responses"]

#: Says why an answer was not stored (a database that failed, the size cap).
NOT_STORED_HEADER = "x-gateway-not-stored"


async def serve_responses(call: Call) -> Any:
    request, exchange = call.request, call.exchange
    body = read_json_body(request)
    store: ResponseStore = call.runtime.services.responses
    owner = owner_of(exchange)
    keep = state.stores(body)
    if keep and not store.enabled:
        keep, exchange.response_headers[NOT_STORED_HEADER] = False, store.closed_because()
    expanded = await _expanded(store, owner, body)
    if keep:
        store.refuse_oversized(expanded.own_input)
    asked = Asked(expanded.body, request.headers, None, request.query_string)
    deadline = Deadline.after(call.runtime.config.limits.request_timeout)
    try:
        answer = await complete(call.runtime, call.route, asked, exchange, deadline)
    except InvalidRequest as error:
        raise _in_own_input(error, expanded.history_length) from None
    echoed = state.echoed_fields(body) | {"store": keep}
    if isinstance(answer, WholeAnswer):
        answer.on_sent()  # the body is whole: its target has done its part
        response = answer.body
        if _is_response(response):
            response.update(echoed)
            if keep:
                problem = await store.save(owner, response, expanded.own_input)
                if problem:
                    exchange.response_headers[NOT_STORED_HEADER] = problem
        return json_response(response, headers=exchange.response_headers or None)
    if isinstance(answer, StreamedAnswer):
        encoder = answer.encoder
        if isinstance(encoder, openai_responses.StreamEncoder):
            encoder.echo(echoed)
            if keep:
                answer.follower = _Recorder(store, owner, encoder, expanded.own_input)
        return await send_stream(request, answer, exchange, deadline)
    return await send_relayed(request, answer, exchange, deadline)


async def _expanded(store: ResponseStore, owner: str, body: dict[str, Any]) -> state.Expanded:
    """``body`` with what it refers to looked up in the store for ``owner``."""
    wanted = state.references(body)
    history: list[dict[str, Any]] = []
    if wanted.previous_response_id is not None:
        found = await store.conversation(owner, wanted.previous_response_id)
        if found is None:
            raise state.previous_not_found(wanted.previous_response_id)
        history = found
    items = {}
    if wanted.required or (wanted.optional and store.enabled):
        items = await store.items(owner, wanted.item_ids)
    return state.expand(body, history, items)


def _is_response(body: Any) -> bool:
    return isinstance(body, dict) and body.get("object") == "response" and "id" in body


_INPUT_INDEX = re.compile(r"\binput\[(\d+)\]")


def _in_own_input(error: InvalidRequest, offset: int) -> InvalidRequest:
    """``error`` with the ``input[i]`` it names counted in the client's own input, not in the
    conversation it was put after."""
    if not offset:
        return error

    def renumber(text: str) -> str:
        def shift(found: re.Match[str]) -> str:
            index = int(found.group(1)) - offset
            return f"input[{index}]" if index >= 0 else "the previous response's input"

        return _INPUT_INDEX.sub(shift, text)

    error.message = renumber(error.message)
    error.args = (error.message,)
    if error.param:
        error.param = renumber(error.param)
    return error


class _Recorder:
    """Stores a streamed response: once complete, before its last event is written; as
    ``failed`` or ``incomplete`` in the background when it ends otherwise."""

    def __init__(
        self,
        store: ResponseStore,
        owner: str,
        encoder: openai_responses.StreamEncoder,
        own_input: list[dict[str, Any]],
    ) -> None:
        self._store, self._owner, self._encoder, self._input = store, owner, encoder, own_input
        self._saved = False

    async def completed(self) -> None:
        self._saved = True
        await self._store.save(self._owner, self._encoder.response, self._input)

    def ended(self) -> None:
        if self._saved:
            return
        self._saved = True
        response = self._encoder.response  # the failed one, when its error event was sent
        if response.get("status") != "failed":  # abandoned by the client
            response = self._encoder.unfinished()
        self._store.save_later(self._owner, response, self._input)


RESPONSES_ENDPOINT = Endpoint(
    openai_responses.NAME,
    serve_responses,
    family=OPENAI,
    dialect=DIALECTS[openai_responses.NAME],
    calls_sink=True,
    mountable=True,
)
