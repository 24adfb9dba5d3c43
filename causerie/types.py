"""Plain data shared by every layer: messages, sampling parameters, stream deltas, usage, and
the tool calls of OpenAI-style function calling.

This module imports nothing from Causerie, so any package may depend on it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypedDict

Role = Literal["system", "user", "assistant", "tool"]

FinishReason = Literal["stop", "length", "tool_calls"]
ToolChoiceMode = Literal["none", "auto", "required", "function"]
LOCAL_OWNER = "local"  # whose data it is when the server has no accounts (single-user mode)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a chat turn is for: whose conversations (``owner``: a user id, or ``LOCAL_OWNER``),
    through which API key (``""``: the page or the terminal), and the engine's fairness key."""

    owner: str = LOCAL_OWNER
    key_id: str = ""
    fairness: str = ""

    @property
    def queue_key(self) -> str:
        return self.fairness or self.owner


class Lease(Protocol):
    """A turn let in by the quotas: how long its reply may be, and ``release`` (idempotent,
    any arguments ignored) when it ends."""

    def cap(self, max_tokens: int | None) -> int | None: ...

    async def release(self, *_: object) -> None: ...


Admit = Callable[[Sequence[str]], Awaitable[Lease]]
"""Lets a turn for these model names (as asked for, as resolved) in, or raises: the quota's
429, or 404 for a model the caller may not use. ``ChatService`` takes one for every turn."""


@dataclass(frozen=True, slots=True)
class TurnContext:
    """Who a request to a provider is for, handed to ``Provider.open`` explicitly (a path that
    forgot it would not type-check): whose it is, through which key, the engine's fairness key,
    and the names this user wants hidden from external providers (the privacy firewall adds
    them to the providers file's); ``local_only``: the turn is in a local-only project, and no
    external provider may receive it."""

    owner: str = LOCAL_OWNER
    key_id: str = ""
    fairness_key: str = "anonymous"
    private_names: tuple[str, ...] = ()
    local_only: bool = False


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: its name, what it does, its parameters' JSON schema."""

    name: str
    description: str = ""
    parameters: dict[str, Any] | None = field(default=None, hash=False)
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolUse:
    """The tools of a request and how the model may use them: ``choice`` is ``none`` (never
    call), ``auto`` (the model decides), ``required`` (call one) or ``function`` (call
    ``function``)."""

    tools: tuple[ToolSpec, ...]
    choice: ToolChoiceMode = "auto"
    function: str | None = None
    parallel_tool_calls: bool | None = None

    @property
    def forced(self) -> tuple[ToolSpec, ...]:
        """The tools one of which must be called now (empty: calling is not required)."""
        if self.choice == "required":
            return self.tools
        if self.choice == "function":
            return tuple(tool for tool in self.tools if tool.name == self.function)
        return ()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the assistant made: ``arguments`` is JSON text, exactly as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallChunk:
    """A piece of a streamed tool call. The first piece of call ``index`` carries its ``id`` and
    ``name``; the ``arguments`` of every piece, joined, are the call's arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


PartType = Literal["image_url", "input_audio", "file"]


@dataclass(frozen=True, slots=True)
class ContentPart:
    """A part of a message that is not text (an image, a sound, a file), as OpenAI's chat API
    carries it: ``body`` is the part's object (``{"url": ...}`` for ``image_url``), passed on as
    it came to a provider whose model reads it. ``index``: its place among the message's parts
    as sent; ``offset``: how many characters of the message's text came before it."""

    type: PartType
    body: dict[str, Any] = field(hash=False)
    index: int = 0
    offset: int = 0

    @property
    def wire(self) -> dict[str, Any]:
        return {"type": self.type, self.type: self.body}


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation as the model sees it. An assistant turn may carry
    ``tool_calls`` (its content may then be empty); a ``tool`` turn answers the call
    ``tool_call_id``. ``content`` is the turn's text; ``parts``, what it holds besides text
    (never stored with a conversation)."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    parts: tuple[ContentPart, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyFormat:
    """What the reply must be (OpenAI's ``response_format``): one JSON object (``schema``
    None), or JSON valid against ``schema``. ``wire``: the request's own ``response_format``,
    passed to a remote provider as it came."""

    schema: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    name: str = ""
    strict: bool | None = None
    wire: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to pick tokens. ``temperature == 0`` means greedy decoding."""

    max_tokens: int | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repeat_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # Functions the model may call (forwarded upstream as they are); a call the request forces
    # also constrains the local model's sampling, with a grammar.
    tools: ToolUse | None = None
    # JSON only (a schema's, if given): enforced on the local model with a grammar, passed to
    # remote providers as the request sent it.
    reply_format: ReplyFormat | None = None
    # The messages' text, joined as it is, is the whole prompt: no chat template, no roles (the
    # legacy /v1/completions; a remote provider gets it as `prompt` at its /completions).
    raw_prompt: bool = False
    # Choices to sample from the one prompt (OpenAI's ``n``); each has its own random stream
    # (with a seed: ``seed + choice``).
    n: int = 1
    # The log-probability of each reply token and of this many likeliest alternatives (0..20);
    # None: none asked for (they cost a log-softmax over the vocabulary per token).
    logprobs: int | None = None


class SamplingOverrides(TypedDict, total=False):
    """A request's own sampling choices (None: the server's default), by ``SamplingParams``'s
    field names: a misspelt or mistyped one does not type-check."""

    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    top_k: int | None
    min_p: float | None
    presence_penalty: float | None
    frequency_penalty: float | None
    repeat_penalty: float | None
    seed: int | None
    stop: tuple[str, ...] | None
    tools: ToolUse | None
    reply_format: ReplyFormat | None
    n: int | None
    logprobs: int | None


@dataclass(frozen=True, slots=True)
class Redactions:
    """What the privacy firewall replaced before a request went to ``provider``: distinct
    values by kind (``{"email": 2, "name": 1}``), never the values themselves."""

    provider: str
    counts: dict[str, int] = field(hash=False)

    def as_json(self) -> str:
        return json.dumps({"provider": self.provider, "counts": self.counts}, sort_keys=True)

    @classmethod
    def of_json(cls, text: str | None) -> Redactions | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(str(data["provider"]), {str(k): int(v) for k, v in data["counts"].items()})


@dataclass(frozen=True, slots=True)
class Reasoning:
    """What a model thought before replying: ``text`` the thoughts themselves (may be empty),
    ``summary`` a one-line recap ("Thought for 12s"). Kept apart from the reply, never its
    text, never sent to a model again."""

    text: str
    summary: str | None = None

    def as_json(self) -> str:
        return json.dumps({"text": self.text, "summary": self.summary}, ensure_ascii=False)

    @classmethod
    def of_json(cls, text: str | None) -> Reasoning | None:
        if not text:
            return None
        data = json.loads(text)
        summary = data.get("summary")
        return cls(str(data.get("text", "")), None if summary is None else str(summary))


@dataclass(frozen=True, slots=True)
class Source:
    """A passage given to the model for a reply, under the number ``[number]`` its citations
    use. Only where the passage is, never its text: deleting the file erases the text."""

    number: int
    file_id: str
    file_name: str
    page: int | None
    position: int

    @staticmethod
    def list_as_json(sources: Sequence[Source]) -> str | None:
        if not sources:
            return None
        return json.dumps(
            [[s.number, s.file_id, s.file_name, s.page, s.position] for s in sources],
            ensure_ascii=False,
        )

    @classmethod
    def list_of_json(cls, text: str | None) -> tuple[Source, ...]:
        if not text:
            return ()
        return tuple(
            cls(int(n), str(f), str(name), page, int(p)) for n, f, name, page, p in json.loads(text)
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one completion, as OpenAI reports them."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class TokenChoice:
    """A token and its log-probability under the model's distribution. ``token`` is its text
    (a piece of a character split across tokens is written ``bytes:\\xe2\\x80``, as OpenAI
    writes it); ``raw`` its exact bytes."""

    token: str
    logprob: float
    raw: bytes  # the token's exact bytes (OpenAI's `bytes`)


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """A token of the reply: its own log-probability and the likeliest alternatives at its
    position, likeliest first (as many as the request asked for)."""

    token: str
    logprob: float
    raw: bytes  # the token's exact bytes (OpenAI's `bytes`)
    top: tuple[TokenChoice, ...] = ()


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of a streamed reply, of its choice ``choice`` (0..n-1: a request for n choices
    streams them interleaved). The last delta of each choice carries its ``finish_reason``;
    the very last of the whole reply also the ``usage`` of all its choices. ``logprobs``: the
    tokens of this piece's text, when asked for."""

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCallChunk, ...] = ()
    choice: int = 0
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model a provider can serve."""

    id: str
    owned_by: str = "causerie"
    context_window: int = 0
    created: int = 0
    aliases: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Passage:
    """A passage of a document's text, within one page (None: the format has no pages), at
    ``start``..``end`` of that page's text; ``position`` orders a document's passages from 0."""

    position: int
    page: int | None
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class PassageHit:
    """A passage found by a search, with the file it was found in."""

    file_id: str
    file_name: str
    sha256: str  # the content's: the same passage in two uploads is one passage
    position: int
    page: int | None
    start: int
    end: int
    text: str
    score: float  # the ranking's own, lower is better: BM25, -ts_rank, a distance, -RRF

    @property
    def key(self) -> tuple[str, int]:
        return self.sha256, self.position


@dataclass(frozen=True, slots=True)
class Project:
    """Chats and files that belong together, and the instructions their chats follow."""

    id: str
    name: str
    instructions: str
    archived: bool
    created_at: datetime
    updated_at: datetime
    conversations: int = 0
    files: int = 0
    local_only: bool = False  # its chats never reach an external provider


@dataclass(frozen=True, slots=True)
class FileCounts:
    """How many files a user may keep, and one conversation or project may hold."""

    per_user: int = 1000
    per_chat: int = 100


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An uploaded file as its owner sees it, and how far its reading got."""

    id: str
    name: str
    kind: str
    size: int
    sha256: str
    status: str  # pending | extracting | searchable | embedding | ready | no_text | failed
    error: str | None
    pages: int
    conversation_id: str | None
    created_at: datetime
    passages: int = 0
    embedded: int = 0  # passages embedded so far (the semantic search covers these)
    project_id: str | None = None


ImportState = Literal["queued", "running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class ImportJob:
    """An export uploaded to be imported, as its owner sees it: ``state`` queued, running,
    done or failed; ``done`` of ``total`` conversations so far (``total`` None until the
    export is open); ``summary`` (the importer's, as JSON-ready data) once done; ``error``
    once failed."""

    id: str
    filename: str
    state: ImportState
    done: int
    total: int | None
    summary: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
