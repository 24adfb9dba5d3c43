"""Ollama's requests as Causerie takes them: ``options`` as sampling choices, ``format`` as a
``ReplyFormat``, messages (with Ollama's id-less tool calls) as ``Message``s, and what is refused
with a 400 that says why (thinking, raw prompts, Go templates...). Images become OpenAI's
``image_url`` parts: a provider's model receives them, a text-only model answers a 400."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from causerie.api.schemas import MAX_STOPS
from causerie.api.tools import ToolDefinition, tool_use
from causerie.errors import UnsupportedParameterError
from causerie.types import ContentPart, Message, ReplyFormat, SamplingOverrides, ToolCall, ToolUse

Flag = Annotated[bool, Field(strict=True)]
OptionalFlag = Annotated[bool | None, Field(strict=True)]


class Options(BaseModel):
    """``options``: the sampling choices Causerie applies. Ollama's others (``num_ctx``,
    ``num_gpu``, ``num_thread``, ``mirostat``, ``typical_p``, ``repeat_last_n``...) set how
    Ollama loads or samples a model; they are ignored (docs/api.md)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    temperature: Annotated[float | None, Field(ge=0, le=2, strict=True)] = None
    top_p: Annotated[float | None, Field(gt=0, le=1, strict=True)] = None
    top_k: Annotated[int | None, Field(ge=0, strict=True)] = None
    min_p: Annotated[float | None, Field(ge=0, le=1, strict=True)] = None
    seed: Annotated[int | None, Field(strict=True)] = None
    num_predict: Annotated[int | None, Field(strict=True)] = None
    stop: Annotated[list[str] | None, Field(max_length=MAX_STOPS)] = None
    repeat_penalty: Annotated[float | None, Field(ge=0, strict=True)] = None
    presence_penalty: Annotated[float | None, Field(ge=-2, le=2, strict=True)] = None
    frequency_penalty: Annotated[float | None, Field(ge=-2, le=2, strict=True)] = None

    def overrides(self) -> SamplingOverrides:
        """As ``SamplingParams`` names them; ``num_predict`` below 1 (Ollama's -1, "no limit",
        and -2, "fill the context") leaves the reply whatever room the context has."""
        limit = self.num_predict if self.num_predict is not None and self.num_predict > 0 else None
        return SamplingOverrides(
            max_tokens=limit,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            seed=self.seed,
            stop=tuple(self.stop) if self.stop else None,
            repeat_penalty=self.repeat_penalty,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
        )


def reply_format(value: str | dict[str, Any] | None) -> ReplyFormat | None:
    """``format``: ``"json"`` (one JSON object) or a JSON schema, as ``/v1``'s
    ``response_format`` would ask for it (remote providers get that ``response_format``)."""
    if not value:
        return None
    if value == "json":
        return ReplyFormat(wire={"type": "json_object"})
    assert isinstance(value, dict)  # the request model admits nothing else
    wire = {"type": "json_schema", "json_schema": {"name": "reply", "schema": value}}
    return ReplyFormat(value, "reply", None, wire)


class TurnRequest(BaseModel):
    """What ``/api/chat`` and ``/api/generate`` share."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: Annotated[str, Field(min_length=1)]
    stream: Flag = True  # Ollama streams unless told not to
    options: Options | None = None
    format: Literal["", "json"] | dict[str, Any] | None = None
    keep_alive: float | str | None = None  # accepted, ignored: the model stays loaded
    think: bool | str | None = None
    logprobs: OptionalFlag = None
    store: OptionalFlag = None  # Causerie's own, as on /v1: false stores nothing

    def check_supported(self) -> None:
        if self.think:
            raise UnsupportedParameterError(
                f"`think`: the model `{self.model}` does not support thinking.", param="think"
            )
        if self.logprobs:
            raise UnsupportedParameterError("`logprobs` are not supported yet.", param="logprobs")

    @property
    def asks_nothing(self) -> bool:
        """No prompt, no message: Ollama's way to load a model."""
        raise NotImplementedError

    def to_messages(self) -> list[Message]:
        raise NotImplementedError

    def tool_use(self) -> ToolUse | None:
        return None

    def overrides(self) -> SamplingOverrides:
        """The sampling choices, tools and format (a bad tool: 400)."""
        chosen = self.options.overrides() if self.options else SamplingOverrides()
        chosen["tools"] = self.tool_use()
        chosen["reply_format"] = reply_format(self.format)
        return chosen

    @property
    def unloading(self) -> bool:
        """``keep_alive: 0``: Ollama's way to unload a model (Causerie keeps it loaded)."""
        return self.keep_alive in (0, "0", "0s", "0m")


class FunctionCall(BaseModel):
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ToolCallIn(BaseModel):
    """A call in an assistant message: Ollama's carry no id (newer clients may send one)."""

    id: str | None = None
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_name: str | None = None  # the function a tool message answers
    tool_call_id: str | None = None


class ChatRequest(TurnRequest):
    """``POST /api/chat``."""

    messages: list[ChatMessage] = Field(default_factory=list)
    tools: list[ToolDefinition] | None = None

    @property
    def asks_nothing(self) -> bool:
        return not self.messages

    def tool_use(self) -> ToolUse | None:
        """The tools, offered with ``auto`` (Ollama has no tool choice): a bad one is a 400."""
        return tool_use(self.tools, None, None)

    def to_messages(self) -> list[Message]:
        return to_messages(self.messages)


class GenerateRequest(TurnRequest):
    """``POST /api/generate``: one prompt, with an optional system message."""

    prompt: str = ""
    system: str | None = None
    suffix: str | None = None
    template: str | None = None
    raw: OptionalFlag = None
    images: list[str] | None = None
    context: list[int] | None = None

    def check_supported(self) -> None:
        super().check_supported()
        refused = {
            "raw": "`raw`: prompts always go through the model's chat template here; send the "
            "text without the template's markers.",
            "template": "`template`: Go templates are not supported; the model's own chat "
            "template applies.",
            "suffix": "`suffix` (fill in the middle) is not supported.",
            "context": "`context`: this server returns no context to send back; send the "
            "conversation to /api/chat instead.",
        }
        for field, message in refused.items():
            if getattr(self, field):
                raise UnsupportedParameterError(message, param=field)

    @property
    def asks_nothing(self) -> bool:
        return not self.prompt

    def to_messages(self) -> list[Message]:
        system = [Message("system", self.system)] if self.system else []
        parts = tuple(
            ContentPart("image_url", {"url": data_url(image)}, number + 1, len(self.prompt))
            for number, image in enumerate(self.images or ())
        )
        return [*system, Message("user", self.prompt, parts=parts)]


class EmbedRequest(BaseModel):
    """``POST /api/embed`` (``truncate``, ``options`` and ``keep_alive`` are accepted and have
    no effect: a text is always embedded from its first 8,000 characters)."""

    model_config = ConfigDict(extra="ignore")

    model: Annotated[str, Field(min_length=1)]
    input: str | list[str] = ""
    truncate: OptionalFlag = None
    dimensions: Annotated[int | None, Field(ge=1, strict=True)] = None

    def texts(self) -> list[str]:
        """The inputs; an empty string is no input (Ollama answers it with no vectors)."""
        if isinstance(self.input, str):
            return [self.input] if self.input else []
        return list(self.input)


class LegacyEmbeddingRequest(BaseModel):
    """``POST /api/embeddings``, which Ollama keeps for older clients: one ``prompt``."""

    model_config = ConfigDict(extra="ignore")

    model: Annotated[str, Field(min_length=1)]
    prompt: str = ""


class ShowRequest(BaseModel):
    """``POST /api/show``: older clients name the model ``name``."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    name: str | None = None


def to_messages(messages: Sequence[ChatMessage]) -> list[Message]:
    """Ollama's messages as the chat service takes them. A call without an id gets one from its
    place (``call_<message>_<call>``: the same whenever the client resends the history, so a
    stored conversation goes on); a tool message answers the call its ``tool_call_id`` names,
    else the earliest unanswered call of its ``tool_name``, else the earliest unanswered."""
    turned: list[Message] = []
    waiting: list[ToolCall] = []
    for index, message in enumerate(messages):
        calls = tuple(
            ToolCall(
                call.id or f"call_{index}_{number}",
                call.function.name,
                arguments_text(call.function.arguments),
            )
            for number, call in enumerate(message.tool_calls or ())
        )
        waiting.extend(calls)
        answers = None
        if message.role == "tool":
            answered = answered_call(waiting, message.tool_call_id, message.tool_name)
            answers = message.tool_call_id or (answered.id if answered else None)
        text = message.content or ""
        parts = tuple(
            ContentPart("image_url", {"url": data_url(image)}, number + 1, len(text))
            for number, image in enumerate(message.images or ())
        )
        turned.append(Message(message.role, text, calls, answers, parts=parts))
    return turned


IMAGE_SIGNATURES = {"iVBOR": "png", "/9j/": "jpeg", "R0lG": "gif", "UklGR": "webp"}


def data_url(image: str) -> str:
    """An Ollama image (base64, no header; or already a data: URL) as OpenAI's ``image_url``."""
    if image.startswith("data:"):
        return image
    kind = next((k for sign, k in IMAGE_SIGNATURES.items() if image.startswith(sign)), "png")
    return f"data:image/{kind};base64,{image}"


def answered_call(
    waiting: list[ToolCall], call_id: str | None, name: str | None
) -> ToolCall | None:
    """The call a tool result answers, taken off ``waiting``."""
    for matches in (
        lambda call: call.id == call_id,
        lambda call: call_id is None and call.name == name,
        lambda call: call_id is None,
    ):
        found = next((call for call in waiting if matches(call)), None)
        if found is not None:
            waiting.remove(found)
            return found
    return None


def arguments_text(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def arguments_object(text: str) -> dict[str, Any]:
    """A call's arguments as Ollama sends them, an object (``{}`` for text that is not one: a
    call cut short by ``num_predict``)."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
