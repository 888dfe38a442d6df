"""The neutral representation that every dialect and every sink speaks.

A dialect decodes a client's JSON into a :class:`Request` and encodes :class:`Response` objects
and stream :data:`Event` objects back into its own JSON and SSE. A sink takes a ``Request`` and
produces events. Nothing here knows about HTTP, Sanic or any wire format, and this module imports
nothing from the project.

The event vocabulary mirrors the richest of the dialects (Anthropic's message stream): a message
starts, content blocks start, receive deltas and stop, then the message ends with a stop reason
and the final usage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "EFFORTS",
    "FREEFORM_SCHEMA",
    "BlockStart",
    "BlockStop",
    "Content",
    "Document",
    "Effort",
    "Event",
    "Image",
    "Message",
    "MessageDelta",
    "MessageStart",
    "MessageStop",
    "OutputFormat",
    "Request",
    "Response",
    "ResponseBuilder",
    "SignatureDelta",
    "StopReason",
    "Text",
    "TextDelta",
    "Thinking",
    "ThinkingDelta",
    "Tool",
    "ToolChoice",
    "ToolInputDelta",
    "ToolResult",
    "ToolUse",
    "Usage",
]

Role = Literal["user", "assistant", "system"]
Effort = Literal["low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[str, ...] = get_args(Effort)
StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn"]


# --- content ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Image:
    """An image given inline (``data``, base64) or by ``url``."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None


@dataclass(slots=True)
class Document:
    """A PDF or plain-text document: ``data`` is base64 for a PDF and the text itself for
    ``text/plain``; a PDF may instead be given by ``url``."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    title: str | None = None
    context: str | None = None


@dataclass(slots=True)
class ToolUse:
    id: str
    name: str
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ToolResult:
    tool_use_id: str
    content: list[Text | Image | Document] = field(default_factory=list)
    is_error: bool = False


@dataclass(slots=True)
class Thinking:
    thinking: str
    signature: str | None = None


Content = Text | Image | Document | ToolUse | ToolResult | Thinking


@dataclass(slots=True)
class Message:
    """One turn. A ``system`` turn (text only) is an instruction given at that point of the
    conversation, after the turns before it; the request's ``system`` comes before them all."""

    role: Role
    content: list[Content]


@dataclass(slots=True)
class Tool:
    name: str
    input_schema: dict[str, Any]
    description: str | None = None
    #: The model's input must follow ``input_schema`` exactly (constrained decoding).
    strict: bool = False
    #: A freeform tool (OpenAI ``custom``): its input is one string, ``{"input": "..."}`` here.
    freeform: bool = False
    #: The group the client declared the tool in (OpenAI ``namespace`` tools); ``name`` is then
    #: ``<namespace>__<name as the client knows it>``, the one name the model sees.
    namespace: str | None = None

    @property
    def client_name(self) -> str:
        """The tool's name as the client declared it."""
        return self.name[len(self.namespace) + 2 :] if self.namespace else self.name


@dataclass(slots=True)
class ToolChoice:
    """``auto``: the model decides; ``any``: some tool; ``tool``: the one named; ``none``."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False


@dataclass(slots=True)
class OutputFormat:
    """The answer's text must be JSON that follows ``schema`` (structured outputs)."""

    schema: dict[str, Any]
    name: str = "output"
    #: The client asked OpenAI's strict mode for it (Claude enforces every schema anyway).
    strict: bool = False


#: The input schema of a freeform tool: the model writes one string.
FREEFORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
}


# --- request and response --------------------------------------------------------------------


@dataclass(slots=True)
class Request:
    """What a client asked for, whatever dialect it spoke.

    ``extra`` holds options of the inbound dialect that have no neutral equivalent (Anthropic's
    ``thinking``, say). A sink that speaks that dialect upstream forwards them; any other sink
    must refuse the request rather than drop them.
    """

    model: str
    messages: list[Message]
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    #: Tools the client expects the backend to run itself, by neutral name (``web_search``).
    hosted_tools: list[str] = field(default_factory=list)
    output_format: OutputFormat | None = None
    #: How much effort the model spends on the answer (Claude's ``output_config.effort``).
    effort: Effort | None = None
    #: The client asked to see the model's reasoning (OpenAI Responses' ``reasoning.summary``):
    #: sinks turn thinking on unless the request sets it otherwise.
    show_reasoning: bool = False
    stream: bool = False
    #: A stream ends with the usage totals (OpenAI's ``stream_options.include_usage``; the
    #: Anthropic and Responses streams always carry them).
    stream_usage: bool = False
    user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    extra_dialect: str | None = None
    #: Per-request options for the sink (an agent's working_dir); set by transforms only,
    #: never decoded from what a client sent.
    sink_options: dict[str, Any] = field(default_factory=dict)
    #: Who sent the request, as an opaque name the gateway gives it (a named key's name, say);
    #: never decoded from a body. A sink that keeps state between requests (a conversation
    #: kept in its process) serves it only to the same caller.
    caller: str = ""
    #: The client's own name for the conversation (Claude Code's ``X-Claude-Code-Session-Id``):
    #: a hint for such a sink, never proof that two requests belong together.
    session_hint: str | None = None

    def tool(self, name: str) -> Tool | None:
        """The declared tool the model calls ``name``."""
        return next((tool for tool in self.tools if tool.name == name), None)


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """Every input token, cached or not (what OpenAI calls prompt tokens)."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


@dataclass(slots=True)
class Response:
    id: str
    model: str
    content: list[Content]
    stop_reason: StopReason | None = "end_turn"
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None

    @property
    def text(self) -> str:
        return "".join(part.text for part in self.content if isinstance(part, Text))


# --- stream events ---------------------------------------------------------------------------


@dataclass(slots=True)
class MessageStart:
    id: str
    model: str
    usage: Usage = field(default_factory=Usage)


@dataclass(slots=True)
class BlockStart:
    """A content block opens. ``block`` is empty: ``Text("")``, ``ToolUse(id, name)``, ..."""

    index: int
    block: Text | ToolUse | Thinking


@dataclass(slots=True)
class TextDelta:
    index: int
    text: str


@dataclass(slots=True)
class ThinkingDelta:
    index: int
    thinking: str


@dataclass(slots=True)
class SignatureDelta:
    """The signature that closes a thinking block (the API checks it when the block returns)."""

    index: int
    signature: str


@dataclass(slots=True)
class ToolInputDelta:
    index: int
    partial_json: str


@dataclass(slots=True)
class BlockStop:
    index: int


@dataclass(slots=True)
class MessageDelta:
    """The message is complete: why it stopped and the final usage totals."""

    stop_reason: StopReason | None
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None


@dataclass(slots=True)
class MessageStop:
    pass


Event = (
    MessageStart
    | BlockStart
    | TextDelta
    | ThinkingDelta
    | SignatureDelta
    | ToolInputDelta
    | BlockStop
    | MessageDelta
    | MessageStop
)


class ResponseBuilder:
    """Folds a stream of events into the :class:`Response` they describe."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.usage = Usage()
        self.stop_reason: StopReason | None = None
        self.stop_sequence: str | None = None
        self.cost_usd: float | None = None
        self._blocks: dict[int, Content] = {}
        self._tool_json: dict[int, list[str]] = {}

    def add(self, event: Event) -> None:
        match event:
            case MessageStart():
                self.id, self.model, self.usage = event.id, event.model, event.usage
            case BlockStart(index=index, block=block):
                if isinstance(block, Text):
                    self._blocks[index] = Text(block.text)
                elif isinstance(block, ToolUse):
                    self._blocks[index] = ToolUse(block.id, block.name, {})
                    self._tool_json[index] = []
                else:
                    self._blocks[index] = Thinking(block.thinking, block.signature)
            case TextDelta(index=index, text=text):
                self._blocks[index].text += text  # type: ignore[union-attr]
            case ThinkingDelta(index=index, thinking=thinking):
                self._blocks[index].thinking += thinking  # type: ignore[union-attr]
            case SignatureDelta(index=index, signature=signature):
                self._blocks[index].signature = signature  # type: ignore[union-attr]
            case ToolInputDelta(index=index, partial_json=fragment):
                self._tool_json[index].append(fragment)
            case BlockStop(index=index):
                fragments = self._tool_json.pop(index, None)
                if fragments:
                    self._blocks[index].input = json.loads("".join(fragments))  # type: ignore[union-attr]
            case MessageDelta():
                self.stop_reason, self.stop_sequence = event.stop_reason, event.stop_sequence
                self.usage = event.usage
                self.cost_usd = event.cost_usd
            case MessageStop():
                pass

    def build(self) -> Response:
        content = [self._blocks[i] for i in sorted(self._blocks)]
        return Response(
            id=self.id,
            model=self.model,
            content=content,
            stop_reason=self.stop_reason,
            stop_sequence=self.stop_sequence,
            usage=self.usage,
            cost_usd=self.cost_usd,
        )
