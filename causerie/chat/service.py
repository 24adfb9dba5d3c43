"""``ChatService``: a chat turn read top to bottom, for the API, the web page and the terminal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from enum import Enum
from typing import Any, Literal

import anyio
from anyio import to_thread

from causerie.chat.prompt import check_input_bounds, fit_messages
from causerie.chat.titles import TITLE_SECONDS, clean_title, title_request
from causerie.config import Settings
from causerie.errors import CauserieError, InvalidRequestError
from causerie.providers.base import Completion
from causerie.providers.registry import ProviderRegistry
from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.conversations import title_from
from causerie.storage.preferences import Preferences
from causerie.storage.usage import UsageLedger
from causerie.types import (
    Caller,
    Delta,
    Message,
    Redactions,
    SamplingParams,
    ToolCall,
    ToolCallChunk,
    TurnContext,
    Usage,
)

SaveReply = Callable[[MessageDraft], Awaitable[str]]
OnClose = Callable[["Turn"], Awaitable[None]]
LOCAL_CALLER = Caller()
CONTINUE_PROMPT = "Continue your last answer exactly where it stopped, without repeating it."


class Leaf(Enum):
    """``respond(parent_id=Leaf.CURRENT)``: answer under the conversation's current leaf."""

    CURRENT = "current"


class Turn:
    """A reply being streamed. When it ends, or is abandoned, the reply is saved exactly once
    (marked ``interrupted`` if it did not finish)."""

    def __init__(
        self,
        completion: Completion,
        model: str,
        save: SaveReply | None,
        *,
        conversation_id: str | None = None,
        user_message_id: str | None = None,
        prefix: str = "",
    ) -> None:
        self._completion = completion
        self._prefix = prefix  # a continued reply: the text it continues
        self._save = save
        self.model = model
        self.conversation_id = conversation_id
        self.user_message_id = user_message_id
        self.prompt_tokens = completion.prompt_tokens
        self.reply_id: str | None = None
        self.final: Delta | None = None
        self._parts: list[str] = []
        self._calls: dict[int, ToolCall] = {}  # by index, assembled from the streamed pieces
        self._closed = False
        self._on_close: list[OnClose] = []

    def on_close(self, callback: OnClose) -> None:
        """Run ``callback(turn)`` once the turn has ended and its reply is saved."""
        self._on_close.append(callback)

    @property
    def completion_tokens(self) -> int:
        """Tokens produced: the provider's count, or, for a reply cut short, the pieces seen."""
        usage = self.usage
        return usage.completion_tokens if usage else sum(1 for part in self._parts if part)

    @property
    def served_by(self) -> str:
        """The model that really answered: ``provider/model`` for an upstream (after any
        failover), else the model id."""
        return getattr(self._completion, "served_by", None) or self.model

    @property
    def cached_tokens(self) -> int:
        usage = self.usage
        return usage.cached_tokens if usage else 0

    @property
    def text(self) -> str:
        return self._prefix + "".join(self._parts)

    @property
    def usage(self) -> Usage | None:
        return self.final.usage if self.final else None

    @property
    def redactions(self) -> Redactions | None:
        """What the privacy firewall hid from the provider (None: nothing, or not external)."""
        counts = getattr(self._completion, "redactions", None)
        provider = getattr(self._completion, "redacted_for", None)
        return Redactions(provider, dict(counts)) if counts and provider else None

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The function calls of the reply so far, in index order."""
        return tuple(self._calls[index] for index in sorted(self._calls))

    def _add_piece(self, piece: ToolCallChunk) -> None:
        call = self._calls.get(piece.index) or ToolCall("", "", "")
        self._calls[piece.index] = ToolCall(
            piece.id or call.id, piece.name or call.name, call.arguments + piece.arguments
        )

    async def stream(self) -> AsyncIterator[Delta]:
        async for delta in self._completion:
            self._parts.append(delta.text)
            for piece in delta.tool_calls:
                self._add_piece(piece)
            if delta.finish_reason is not None:
                self.final = delta
            yield delta
        await self.aclose()

    async def collect(self) -> str:
        """Consume the whole reply (for non-streaming callers)."""
        try:
            async for _ in self.stream():
                pass
        finally:
            await self.aclose()
        return self.text

    async def aclose(self) -> None:
        """Stop generating if unfinished, and save what there is. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.final is None:
            self._completion.cancel()
        with anyio.CancelScope(shield=True):  # a disconnect must not lose the partial reply
            if self._save is not None:
                draft = MessageDraft(
                    role="assistant",
                    content=self.text,
                    status="complete" if self.final else "interrupted",
                    model=self.model,
                    finish_reason=self.final.finish_reason if self.final else None,
                    prompt_tokens=self.prompt_tokens,
                    completion_tokens=self.completion_tokens,
                    tool_calls=self.tool_calls,
                    redactions=self.redactions,
                )
                self.reply_id = await self._save(draft)
            for callback in self._on_close:
                await callback(self)


class ChatService:
    """Loads history, builds the prompt, streams from the provider and persists both sides."""

    def __init__(self, registry: ProviderRegistry, database: Database, settings: Settings) -> None:
        self._registry = registry
        self._database = database
        self._ledger = UsageLedger(database)
        self._settings = settings

    def _opened(
        self,
        completion: Completion,
        model: str,
        save: SaveReply | None,
        caller: Caller,
        **where: Any,
    ) -> Turn:
        """A turn whose usage is counted for ``caller`` when it ends."""
        turn = Turn(completion, model, save, **where)

        async def count(ended: Turn) -> None:
            await to_thread.run_sync(
                lambda: self._ledger.record(
                    caller.owner,
                    caller.key_id,
                    ended.served_by,
                    prompt_tokens=ended.prompt_tokens,
                    cached_tokens=ended.cached_tokens,
                    completion_tokens=ended.completion_tokens,
                )
            )

        turn.on_close(count)
        return turn

    async def _enter(self, caller: Caller) -> TurnContext:
        """Who this turn is for, as providers take it: the engine's fairness key and the names
        the caller wants hidden from external providers (read only when some provider is
        firewalled)."""
        names: tuple[str, ...] = ()
        if self._registry.redacts:
            preferences = Preferences(self._database, caller.owner)
            names = await to_thread.run_sync(preferences.private_names)
        return TurnContext(caller.owner, caller.key_id, caller.queue_key, names)

    async def title(self, model: str, first_message: str, caller: Caller) -> str | None:
        """The model's title for a conversation that starts with ``first_message`` (None if it
        fails or answers with something unusable); its tokens count in the caller's usage."""
        context = await self._enter(caller)
        try:
            provider, model_id = self._registry.resolve(model or "default")
            messages, params = title_request(first_message)
            completion = await provider.open(model_id, messages, params, context)
            turn = self._opened(completion, model_id, None, caller)
            with anyio.fail_after(TITLE_SECONDS):
                text = await turn.collect()
        except (CauserieError, TimeoutError):
            return None
        return clean_title(text)

    def model_names(self, name: str) -> list[str]:
        """A requested model name and the model it resolves to (unknown: ModelNotFoundError)."""
        return [name, self._registry.resolve(name)[1]]

    def sampling(self, **overrides: Any) -> SamplingParams:
        """The server's default sampling parameters with a request's explicit ones on top."""
        s = self._settings
        defaults = SamplingParams(
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            min_p=s.min_p,
            repeat_penalty=s.repeat_penalty,
        )
        return replace(defaults, **{k: v for k, v in overrides.items() if v is not None})

    def _saver(self, store: ConversationStore, conversation_id: str, parent_id: str) -> SaveReply:
        async def save(draft: MessageDraft) -> str:
            stored = await to_thread.run_sync(store.append, conversation_id, parent_id, [draft])
            return stored[0].id

        return save

    def _check_bounds(self, messages: Sequence[Message]) -> None:
        check_input_bounds(
            messages,
            max_messages=self._settings.max_messages,
            max_chars=self._settings.max_input_chars,
        )

    async def complete(
        self,
        model: str,
        messages: list[Message],
        params: SamplingParams,
        *,
        store: bool = True,
        caller: Caller = LOCAL_CALLER,
    ) -> Turn:
        """An OpenAI-style call: the client sends the whole history each time. The history
        continues one of the caller's own conversations only."""
        context = await self._enter(caller)
        self._check_bounds(messages)
        provider, model_id = self._registry.resolve(model)
        completion = await provider.open(model_id, messages, params, context)
        if not store:
            return self._opened(completion, model_id, None, caller)
        conversations = ConversationStore(self._database, caller.owner)
        try:
            conversation_id, leaf_id = await to_thread.run_sync(
                lambda: conversations.attach_history(messages, model=model_id)
            )
        except BaseException:
            completion.cancel()
            raise
        return self._opened(
            completion,
            model_id,
            self._saver(conversations, conversation_id, leaf_id),
            caller,
            conversation_id=conversation_id,
        )

    async def respond(
        self,
        conversation_id: str | None,
        content: str | None,
        *,
        model: str | None = None,
        params: SamplingParams | None = None,
        source: str = "web",
        caller: Caller = LOCAL_CALLER,
        parent_id: str | None | Literal[Leaf.CURRENT] = Leaf.CURRENT,
        system: str | None = None,
    ) -> Turn:
        """A turn in a stored conversation (a new one when ``conversation_id`` is None).

        ``parent_id`` is the message the turn goes under: by default the current leaf; another
        message to branch there (an edited question becomes a sibling of the original); None for
        a new first message. ``content=None`` stores no question and answers the branch ending
        at ``parent_id`` again (regenerate: the reply becomes a sibling of the earlier ones); if
        that branch ends with a reply, the reply is continued instead: the model is asked to go
        on, and the whole text is stored as a sibling of the cut reply. ``system`` (custom
        instructions, a conversation's system prompt) goes first in the prompt, never stored.
        """
        context = await self._enter(caller)
        store = ConversationStore(self._database, caller.owner)
        provider, model_id = self._registry.resolve(model or "default")
        if conversation_id is None or parent_id is None:
            branch = []
        else:
            leaf = None if parent_id is Leaf.CURRENT else parent_id
            branch = await to_thread.run_sync(store.branch, conversation_id, leaf)
        if content is None and (not branch or branch[-1].role not in ("user", "assistant")):
            raise InvalidRequestError("Nothing to answer or continue there.", param="parent_id")
        continued = branch[-1] if content is None and branch[-1].role == "assistant" else None
        history = [
            m.as_message()
            for m in branch
            if m.role != "assistant" or m.content or m.tool_calls  # an empty reply says nothing
        ]
        window = next(i.context_window for i in provider.models() if i.id == model_id)
        params = params or self.sampling()
        wanted = params.max_tokens or self._settings.default_max_tokens
        reserve = min(wanted, window // 2)
        question = [] if content is None else [Message("user", content)]
        if continued is not None:
            question = [Message("user", CONTINUE_PROMPT)]  # not stored
        preamble = [Message("system", system)] if system else []
        self._check_bounds([*preamble, *question])  # the stored history is fitted, not refused
        wanted_messages = [*preamble, *history, *question]

        def fit() -> tuple[list[Message], int]:  # tokenizing: CPU work, off the event loop
            fitted = fit_messages(
                wanted_messages, lambda ms: provider.count_tokens(model_id, ms), window, reserve
            )
            return fitted, window - provider.count_tokens(model_id, fitted)

        messages, room = await to_thread.run_sync(fit)
        completion = await provider.open(
            model_id, messages, replace(params, max_tokens=min(wanted, room)), context
        )
        try:
            if conversation_id is None:
                title = title_from(content or "")
                conversation_id = await to_thread.run_sync(
                    lambda: store.create(title=title, source=source, model=model_id)
                )
            parent = branch[-1].id if branch else None
            if continued is not None:
                parent = continued.parent_id
            if content is not None:
                drafts = [MessageDraft("user", content)]
                stored = await to_thread.run_sync(store.append, conversation_id, parent, drafts)
                parent = stored[0].id
        except BaseException:
            completion.cancel()
            raise
        assert parent is not None  # a question was stored, or the branch ends with one
        return self._opened(
            completion,
            model_id,
            self._saver(store, conversation_id, parent),
            caller,
            conversation_id=conversation_id,
            user_message_id=parent,
            prefix=continued.content if continued is not None else "",
        )
