"""Wire models of the OpenAI chat completions API (requests, responses, stream chunks, errors),
and the request fields the legacy completions share with it (``SamplingRequest``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Unpack

from pydantic import BaseModel, ConfigDict, Field, field_validator

from causerie.api.logprobs import ChoiceLogprobs
from causerie.api.tools import (
    ChunkToolCall,
    ToolCallIn,
    ToolCallOut,
    ToolChoice,
    ToolDefinition,
    tool_use,
)
from causerie.errors import InvalidRequestError, UnsupportedParameterError
from causerie.types import ContentPart, Message, ReplyFormat, SamplingOverrides, ToolUse

# Stop strings one request may hold: OpenAI takes 4, llama.cpp's servers any number; clients
# written for the latter (Open WebUI) send more than 4.
MAX_STOPS = 64


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class PartObject(BaseModel):
    """A non-text part's object: its fields are checked, any others passed on as they came."""

    model_config = ConfigDict(extra="allow")


class ImageUrl(PartObject):
    url: str
    detail: str | None = None


class InputAudio(PartObject):
    data: str
    format: str


class FileObject(PartObject):
    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageUrl


class AudioPart(BaseModel):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FilePart(BaseModel):
    type: Literal["file"]
    file: FileObject


Part = TextPart | ImagePart | AudioPart | FilePart
PART_TYPES = ("text", "image_url", "input_audio", "file")


def content_of(parts: list[Part]) -> tuple[str, tuple[ContentPart, ...]]:
    """A message's text parts joined, and its other parts, each where it was sent."""
    text, others = "", []
    for index, part in enumerate(parts):
        if isinstance(part, TextPart):
            text += part.text
            continue
        body = getattr(part, part.type).model_dump(exclude_none=True)
        others.append(ContentPart(part.type, body, index, len(text)))
    return text, tuple(others)


class ChatMessageIn(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Part] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None  # an assistant's calls
    tool_call_id: str | None = None  # the call a tool message answers

    @field_validator("content", mode="before")
    @classmethod
    def known_parts(cls, content: object) -> object:
        """A part of a type OpenAI does not define is named as such (the union's members
        would each complain of something else)."""
        for part in content if isinstance(content, list) else ():
            kind = part.get("type") if isinstance(part, dict) else None
            if isinstance(kind, str) and kind not in PART_TYPES:
                expected = ", ".join(PART_TYPES)
                raise ValueError(f"a content part of type '{kind}' is not one of {expected}")
        return content

    def to_message(self) -> Message:
        if isinstance(self.content, list):
            text, parts = content_of(self.content)
        else:
            text, parts = self.content or "", ()
        role = "system" if self.role == "developer" else self.role
        calls = tuple(call.to_call() for call in self.tool_calls or ())
        return Message(role, text, calls, self.tool_call_id, parts)


MAX_CHOICES = 8  # `n`: OpenAI allows 128; each choice holds an engine sequence while it runs

# Types as OpenAI enforces them: "5" is not an integer, "yes" not a boolean, and no number is
# infinite or NaN (Python's json module reads `Infinity` and `NaN`).
Flag = Annotated[bool, Field(strict=True)]
OptionalFlag = Annotated[bool | None, Field(strict=True)]


class StreamOptions(BaseModel):
    include_usage: Flag = False


class JsonSchemaFormat(BaseModel):
    """``response_format.json_schema``: the schema a reply must follow, and its name."""

    model_config = ConfigDict(populate_by_name=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str | None = None
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    strict: OptionalFlag = None


class ResponseFormat(BaseModel):
    """``response_format``: free text (``text``), one JSON object (``json_object``), or JSON
    that follows a schema (``json_schema``)."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def reply_format(self) -> ReplyFormat | None:
        """As providers take it (None: free text); a ``json_schema`` without its schema is a
        400."""
        if self.type == "text":
            return None
        wire = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if self.type == "json_object":
            return ReplyFormat(wire=wire)
        if self.json_schema is None:
            raise InvalidRequestError(
                "`response_format` of type json_schema needs its `json_schema`.",
                param="response_format.json_schema",
            )
        schema = self.json_schema.schema_ if self.json_schema.schema_ is not None else {}
        return ReplyFormat(schema, self.json_schema.name, self.json_schema.strict, wire)


class SamplingRequest(BaseModel):
    """What ``/v1/chat/completions`` and ``/v1/completions`` take alike: the model, streaming and
    sampling. Unknown fields are ignored, as most OpenAI servers do."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: str
    stream: Flag = False
    stream_options: StreamOptions | None = None
    temperature: Annotated[float | None, Field(ge=0, le=2, strict=True)] = None
    top_p: Annotated[float | None, Field(gt=0, le=1, strict=True)] = None
    top_k: Annotated[int | None, Field(ge=0, strict=True)] = None
    min_p: Annotated[float | None, Field(ge=0, le=1, strict=True)] = None
    repeat_penalty: Annotated[float | None, Field(ge=0, strict=True)] = None
    stop: str | Annotated[list[str], Field(max_length=MAX_STOPS)] | None = None
    seed: Annotated[int | None, Field(strict=True)] = None
    presence_penalty: Annotated[float | None, Field(ge=-2, le=2, strict=True)] = None
    frequency_penalty: Annotated[float | None, Field(ge=-2, le=2, strict=True)] = None
    n: Annotated[int | None, Field(ge=1, strict=True)] = None
    user: str | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def check_supported(self) -> None:
        """Refuse, with a clear error, what is valid OpenAI but not implemented here yet."""
        if self.n is not None and self.n > MAX_CHOICES:
            raise UnsupportedParameterError(
                f"n={self.n} is more choices than this server gives (at most {MAX_CHOICES}).",
                param="n",
            )

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def overrides(self, **more: Unpack[SamplingOverrides]) -> SamplingOverrides:
        """The request's sampling choices (None: the server's default), and ``more``."""
        chosen = SamplingOverrides(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            repeat_penalty=self.repeat_penalty,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            seed=self.seed,
            stop=self.stop_list() or None,
            n=self.n,
        )
        chosen.update(more)
        return chosen


class ChatCompletionRequest(SamplingRequest):
    """``POST /v1/chat/completions``."""

    messages: Annotated[list[ChatMessageIn], Field(min_length=1)]
    max_tokens: Annotated[int | None, Field(ge=1, strict=True)] = None
    max_completion_tokens: Annotated[int | None, Field(ge=1, strict=True)] = None
    store: OptionalFlag = None
    logprobs: OptionalFlag = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: OptionalFlag = None
    response_format: ResponseFormat | None = None
    # OpenAI fields Causerie cannot honour: a request that sets one gets a 400 naming it
    # (``check_supported``) rather than a reply that silently differs from what was asked.
    top_logprobs: Annotated[int | None, Field(ge=0, le=20, strict=True)] = None
    logit_bias: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    modalities: list[str] | None = None
    web_search_options: dict[str, Any] | None = None
    functions: list[Any] | None = None
    function_call: Any = None

    def check_supported(self) -> None:
        """Refuse, with a clear error, what is valid OpenAI but not implemented here yet."""
        refused = {
            "logit_bias": "Token biases are not supported",
            "audio": "Audio output is not supported",
            "web_search_options": "Web search is not available",
            "functions": "The deprecated `functions` are not supported: send `tools`",
            "function_call": "The deprecated `function_call` is not supported: send `tool_choice`",
        }
        for field, reason in refused.items():
            if getattr(self, field):  # unset, empty or 0: nothing asked
                raise UnsupportedParameterError(f"{reason}.", param=field)
        if self.modalities and set(self.modalities) != {"text"}:
            raise UnsupportedParameterError(
                "Only the text modality is supported.", param="modalities"
            )
        super().check_supported()
        if self.top_logprobs is not None and not self.logprobs:
            raise InvalidRequestError(
                "`top_logprobs` needs `logprobs` set to true.", param="top_logprobs"
            )
        for index, message in enumerate(self.messages):
            if message.role == "tool" and not message.tool_call_id:
                raise InvalidRequestError(
                    "A tool message needs the 'tool_call_id' of the call it answers.",
                    param=f"messages[{index}].tool_call_id",
                )

    def tool_use(self) -> ToolUse | None:
        """The tools and tool choice as providers take them (a bad definition: 400)."""
        return tool_use(self.tools, self.tool_choice, self.parallel_tool_calls)

    def overrides(self, **more: Unpack[SamplingOverrides]) -> SamplingOverrides:
        """The request's own sampling choices, with its reply limit, tools and reply format (a
        bad tool or format: 400), and ``more``."""
        chosen = super().overrides(
            max_tokens=self.reply_limit(),
            tools=self.tool_use(),
            reply_format=self.reply_format(),
            logprobs=(self.top_logprobs or 0) if self.logprobs else None,
        )
        chosen.update(more)
        return chosen

    def reply_format(self) -> ReplyFormat | None:
        return self.response_format.reply_format() if self.response_format else None

    def reply_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = PromptTokensDetails()


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None
    tool_calls: list[ToolCallOut] | None = None  # left out of the JSON when there are none


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str | None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: UsageOut
    system_fingerprint: str | None = None


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ChunkToolCall] | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: UsageOut | None = None
    system_fingerprint: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that decodes its own body: the model's JSON schema with its
    ``$defs`` written in place (a ``#/$defs/...`` reference would not resolve from the OpenAPI
    document's root, and a client or a fuzzer reading it would see no body at all)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:  # a recursive model: any value there
                return {}
            return inline(definitions[name], (*seen, name))
        return {key: inline(value, seen) for key, value in node.items()}

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema, ())}},
        }
    }


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the errors a route can answer, all in OpenAI's envelope."""
    meaning = {
        400: "Invalid request",
        401: "Missing or wrong API key",
        403: "Refused (a page's request without its CSRF token)",
        404: "No such model or object (or not yours)",
        413: "Request body too large",
        429: "Over a limit or overloaded; see Retry-After",
        500: "The model failed",
        502: "An upstream provider failed",
        503: "No provider could serve the request",
    }
    return {status: {"model": ErrorEnvelope, "description": meaning[status]} for status in statuses}
