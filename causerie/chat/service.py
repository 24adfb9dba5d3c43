"""``ChatService``: a chat turn read top to bottom, for the API, the web page and the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Literal, Unpack

import anyio
from anyio import to_thread

from causerie.chat.files import ChatFiles, DocumentMode, Reading, document_mode
from causerie.chat.instructions import system_text
from causerie.chat.mapreduce import MapReduce, Reply, sections, spread
from causerie.chat.planner import plan_turn
from causerie.chat.prompt import check_input_bounds, fit_messages
from causerie.chat.sources import EXCERPT_STOPS, excerpts_message, numbered
from causerie.chat.titles import TITLE_SECONDS, clean_title, title_request
from causerie.chat.turn import SaveReply, Turn
from causerie.config import Settings
from causerie.errors import CauserieError, InvalidRequestError, ModelNotFoundError
from causerie.providers.base import Completion, Provider
from causerie.providers.registry import ProviderRegistry
from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.conversations import title_from
from causerie.storage.preferences import Preferences, TurnPreferences
from causerie.storage.usage import UsageLedger
from causerie.types import (
    Admit,
    Caller,
    Lease,
    Message,
    PassageHit,
    SamplingOverrides,
    SamplingParams,
    TurnContext,
)

LOCAL_CALLER = Caller()


class Leaf(Enum):
    """``respond(parent_id=Leaf.CURRENT)``: answer under the conversation's current leaf."""

    CURRENT = "current"


@dataclass(frozen=True)
class _Where:
    """Where a turn goes, decided before anything is stored: the provider and model, for whom,
    and its quota lease."""

    provider: Provider
    model_id: str
    context: TurnContext
    caller: Caller
    lease: Lease


class ChatService:
    """Loads history, builds the prompt, streams from the provider and persists both sides."""

    def __init__(
        self,
        registry: ProviderRegistry,
        database: Database,
        settings: Settings,
        files: ChatFiles | None = None,
    ) -> None:
        self._registry = registry
        self._files = files  # None: attached files are not searched
        self._database = database
        self._ledger = UsageLedger(database)
        self._settings = settings

    async def _admitted(self, name: str, admit: Admit) -> tuple[Provider, str, Lease]:
        """Resolve the model once and let the turn in (``admit`` raises a quota's 429)."""
        provider, model_id = self._registry.resolve(name)
        return provider, model_id, await admit([name, model_id])

    def _opened(
        self,
        completion: Completion,
        model: str,
        save: SaveReply | None,
        caller: Caller,
        lease: Lease,
        **where: Any,
    ) -> Turn:
        """A turn whose usage is counted for ``caller`` when it ends, and whose lease is then
        released."""
        turn = self._counted(Turn(completion, model, save, **where), caller)
        turn.on_close(lease.release)
        return turn

    def _counted(self, turn: Turn, caller: Caller) -> Turn:
        """``turn``, its usage counted for ``caller`` when it ends."""

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

    async def _enter(
        self,
        caller: Caller,
        conversation_id: str | None = None,
        *,
        personal: bool = False,
        provider: Provider | None = None,
        project_id: str | None = None,
    ) -> tuple[TurnContext, TurnPreferences]:
        """Who this turn is for, as providers take it (the engine's fairness key, the names the
        caller wants hidden from external providers), and, for a ``personal`` turn, the
        conversation's settings and the custom instructions: one read of the preferences, none
        when nothing needs them (a turn on ``provider`` that no firewall stands before; without
        a provider, whenever one does)."""
        read = TurnPreferences()
        firewalled = (
            self._registry.redacts if provider is None else self._registry.redacts_for(provider)
        )
        if personal or firewalled:
            preferences = Preferences(self._database, caller.owner)
            read = await self._database.read(preferences.for_turn, conversation_id, project_id)
        context = TurnContext(
            caller.owner, caller.key_id, caller.queue_key, read.private_names, read.local_only
        )
        return context, read

    async def context_for(self, caller: Caller, provider: Provider) -> TurnContext:
        """Who a request that is not a turn (embeddings) is for, as ``provider`` takes it: with
        the caller's private names when the privacy firewall stands before it."""
        context, _ = await self._enter(caller, provider=provider)
        return context

    async def title(
        self,
        model: str,
        first_message: str,
        caller: Caller,
        admit: Admit,
        conversation_id: str | None = None,
    ) -> str | None:
        """The model's title for a conversation that starts with ``first_message`` (None if it
        fails or answers with something unusable); its tokens count in the caller's usage. The
        conversation's project decides, as for its turns, whether it may go to an external
        provider."""
        model = model or "default"
        try:
            provider, model_id = self._registry.resolve(model)
        except ModelNotFoundError:  # the conversation's model left the configuration
            model = "default"
            provider, model_id = self._registry.resolve(model)
        context, _ = await self._enter(caller, conversation_id, provider=provider)
        lease = await admit([model, model_id])
        try:
            messages, params = title_request(first_message)
            params = replace(params, max_tokens=lease.cap(params.max_tokens))
            completion = await provider.open(model_id, messages, params, context)
            turn = self._opened(completion, model_id, None, caller, lease)
            with anyio.fail_after(TITLE_SECONDS):
                text = await turn.collect()
        except (CauserieError, TimeoutError):
            return None
        finally:
            await lease.release()
        return clean_title(text)

    def sampling(self, **overrides: Unpack[SamplingOverrides]) -> SamplingParams:
        """The server's default sampling parameters with a request's explicit ones on top."""
        s = self._settings
        defaults = SamplingParams(
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            min_p=s.min_p,
            repeat_penalty=s.repeat_penalty,
        )
        chosen: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return replace(defaults, **chosen)

    def api_sampling(self, **overrides: Unpack[SamplingOverrides]) -> SamplingParams:
        """``sampling`` for a request through the API (``/v1``, Ollama's): a reply it does not
        limit stops at ``CAUSERIE_API_DEFAULT_MAX_TOKENS`` (0: at the context's end)."""
        params = self.sampling(**overrides)
        cap = self._settings.api_default_max_tokens
        return replace(params, max_tokens=cap) if params.max_tokens is None and cap else params

    @staticmethod
    def _window(provider: Provider, model_id: str) -> int:
        """The model's context in tokens (0: unknown)."""
        return next((i.context_window for i in provider.models() if i.id == model_id), 0)

    async def _fitted(
        self, provider: Provider, model_id: str, messages: list[Message], params: SamplingParams
    ) -> list[Message]:
        """``messages`` without as many of their oldest turns as the prompt and a reply of
        ``params.max_tokens`` (at most half the context) need to fit, when the server says so
        (``CAUSERIE_CONTEXT_OVERFLOW=drop_oldest``); else, or for the legacy completions'
        raw prompt, as they are (what does not fit is then the provider's 400)."""
        window = self._window(provider, model_id)
        if self._settings.context_overflow != "drop_oldest" or params.raw_prompt or not window:
            return messages
        reserve = min(params.max_tokens or self._settings.default_max_tokens, window // 2)

        def fit() -> list[Message]:  # tokenizing: CPU work, off the event loop
            return fit_messages(
                messages, lambda ms: provider.count_tokens(model_id, ms), window, reserve
            )

        return await to_thread.run_sync(fit)

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
        admit: Admit,
        store: bool = True,
        caller: Caller = LOCAL_CALLER,
        instructions: bool = False,
    ) -> Turn:
        """An OpenAI-style call: the client sends the whole history each time. The history
        continues one of the caller's own conversations only. ``instructions``: the user's
        custom instructions go first (the page's temporary chats)."""
        provider, model_id = self._registry.resolve(model)
        context, read = await self._enter(caller, personal=instructions, provider=provider)
        system = system_text("", read.instructions) if instructions else None
        if system:
            messages = [Message("system", system), *messages]
        self._check_bounds(messages)
        lease = await admit([model, model_id])
        try:
            params = replace(params, max_tokens=lease.cap(params.max_tokens))
            prompt = await self._fitted(provider, model_id, messages, params)
            completion = await provider.open(model_id, prompt, params, context)
        except BaseException:
            await lease.release()
            raise
        if not store:
            return self._opened(completion, model_id, None, caller, lease)
        conversations = ConversationStore(self._database, caller.owner)
        try:
            conversation_id, leaf_id = await to_thread.run_sync(
                lambda: conversations.attach_history(messages, model=model_id)
            )
        except BaseException:
            completion.cancel()
            await lease.release()
            raise
        return self._opened(
            completion,
            model_id,
            self._saver(conversations, conversation_id, leaf_id),
            caller,
            lease,
            conversation_id=conversation_id,
        )

    async def complete_text(
        self,
        model: str,
        prompt: str,
        params: SamplingParams,
        *,
        admit: Admit,
        caller: Caller = LOCAL_CALLER,
    ) -> Turn:
        """The legacy completions' call: ``prompt`` continued as it is written, with no chat
        template (``SamplingParams.raw_prompt``) and nothing stored; admitted, capped, counted
        in the caller's usage and sent through the privacy firewall as ``complete`` does."""
        limit = self._settings.max_input_chars
        if len(prompt) > limit:
            raise InvalidRequestError(
                f"The prompt holds {len(prompt)} characters; at most {limit} are accepted.",
                param="prompt",
            )
        return await self.complete(
            model,
            [Message("user", prompt)],
            replace(params, raw_prompt=True),
            admit=admit,
            store=False,
            caller=caller,
        )

    async def respond(
        self,
        conversation_id: str | None,
        content: str | None,
        *,
        admit: Admit,
        model: str | None = None,
        sampling: SamplingOverrides | None = None,
        source: str = "web",
        caller: Caller = LOCAL_CALLER,
        parent_id: str | None | Literal[Leaf.CURRENT] = Leaf.CURRENT,
        file_ids: Sequence[str] = (),
        project_id: str | None = None,
    ) -> Turn:
        """A turn in a stored conversation (a new one when ``conversation_id`` is None).

        ``parent_id`` is the message the turn goes under: by default the current leaf; another
        message to branch there (an edited question becomes a sibling of the original); None for
        a new first message. ``content=None`` answers the branch again (regenerate) or continues
        its cut reply (``chat/planner.py``). The conversation's own settings and the user's
        custom instructions apply (the system message goes first, never stored); ``sampling``,
        the request's explicit choices, goes over them. ``file_ids``: the caller's uploaded
        files to attach to the conversation (a new one's first message brings them); they and
        the files already attached are searched for the question. ``project_id``: the project
        a new conversation starts in (its instructions, files and privacy apply).
        """
        if conversation_id is not None:
            project_id = None  # a stored conversation's project is the one it is in
        context, read = await self._enter(
            caller, conversation_id, personal=True, project_id=project_id
        )
        own = read.settings
        chosen = SamplingOverrides(
            temperature=own.temperature, top_p=own.top_p, max_tokens=own.max_tokens
        )
        chosen.update({k: v for k, v in (sampling or {}).items() if v is not None})  # type: ignore[typeddict-item]
        system = system_text(own.system_prompt, read.instructions, read.project_instructions)
        provider, model_id, lease = await self._admitted(model or "default", admit)
        try:
            return await self._respond(
                _Where(provider, model_id, context, caller, lease),
                conversation_id,
                content,
                self.sampling(**chosen),
                source=source,
                parent_id=parent_id,
                system=system,
                file_ids=file_ids,
                documents=document_mode(own.documents),
                project_id=project_id,
            )
        except BaseException:
            await lease.release()
            raise

    async def _respond(
        self,
        where: _Where,
        conversation_id: str | None,
        content: str | None,
        params: SamplingParams,
        *,
        source: str,
        parent_id: str | None | Literal[Leaf.CURRENT],
        system: str | None,
        file_ids: Sequence[str] = (),
        documents: DocumentMode = "auto",
        project_id: str | None = None,
    ) -> Turn:
        provider, model_id = where.provider, where.model_id
        store = ConversationStore(self._database, where.caller.owner)
        if conversation_id is None or parent_id is None:
            branch = []
        else:
            leaf = None if parent_id is Leaf.CURRENT else parent_id
            branch = await to_thread.run_sync(store.branch, conversation_id, leaf)
        plan = plan_turn(branch, content, system)
        window = self._window(provider, model_id)
        asked = params.max_tokens or self._settings.default_max_tokens
        wanted = where.lease.cap(asked) or asked
        reserve = min(wanted, window // 2)
        self._check_bounds(plan.brought)  # the stored history is fitted, not refused
        question = content
        if question is None:  # answered again: the branch's last question
            question = next((m.content for m in reversed(branch) if m.role == "user"), "")
        budget = window * 4 // 3  # about a third of the context, four characters a token
        reading = await self._excerpts(
            where.caller.owner, conversation_id, question, budget, file_ids, documents, project_id
        )

        async def reply(excerpts: Message | None) -> Completion:
            wanted_messages, reply_params = plan.prompt, params
            if excerpts is not None:  # after the system prompt: kept whatever the fitting drops
                wanted_messages = [*plan.preamble, excerpts, *plan.history, *plan.question]
                reply_params = replace(params, stop=(*params.stop, *EXCERPT_STOPS))

            def fit() -> tuple[list[Message], int]:  # tokenizing: CPU work, off the event loop
                fitted = fit_messages(
                    wanted_messages, lambda ms: provider.count_tokens(model_id, ms), window, reserve
                )
                return fitted, window - provider.count_tokens(model_id, fitted)

            messages, room = await to_thread.run_sync(fit)
            reply_params = replace(reply_params, max_tokens=min(wanted, room))
            return await provider.open(model_id, messages, reply_params, where.context)

        excerpts = reading.hits
        if reading.too_long:  # notes on its sections, taken as the reply streams
            mapped = self._map_reduce(where, reading.hits, question, budget, window, reply)
            await mapped.begin()  # refused (privacy, a full engine...) before anything is stored
            completion: Completion = mapped
            excerpts = mapped.sources
        else:
            completion = await reply(excerpts_message(excerpts) if excerpts else None)
        try:
            if conversation_id is None:
                title = title_from(content or "")
                conversation_id = await to_thread.run_sync(
                    lambda: store.create(
                        title=title, source=source, model=model_id, project_id=project_id
                    )
                )
            if file_ids and self._files is not None:
                await self._files.attach(where.caller.owner, file_ids, conversation_id)
            parent = plan.parent_id
            if plan.store_question is not None:
                drafts = [MessageDraft("user", plan.store_question)]
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
            where.caller,
            where.lease,
            conversation_id=conversation_id,
            user_message_id=parent,
            prefix=plan.prefix,
            sources=numbered(excerpts),
        )

    async def _excerpts(
        self,
        owner: str,
        conversation_id: str | None,
        question: str,
        budget: int,
        file_ids: Sequence[str] = (),
        mode: DocumentMode = "auto",
        project_id: str | None = None,
    ) -> Reading:
        """What of the conversation's files (and its project's: ``project_id``'s for a new one)
        answers the turn's ``question``: the passages that do, within ``budget`` characters, or
        the whole text (``ChatFiles.passages``)."""
        if self._files is None or (conversation_id is None and not file_ids and not project_id):
            return Reading([])
        return await self._files.passages(
            owner, conversation_id, question, budget, file_ids, mode, project_id
        )

    def _map_reduce(
        self,
        where: _Where,
        pages: Sequence[PassageHit],
        question: str,
        budget: int,
        window: int,
        reply: Reply,
    ) -> MapReduce:
        """The reply to a question about the whole of a text longer than ``budget``: notes on
        its sections (at most ``map_sections``), each a completion counted in the caller's
        usage like the turn's own (``chat/mapreduce.py``)."""

        def shortened(messages: list[Message], room: int) -> list[Message]:
            """The note's request with its section cut until it fits in ``room`` tokens (a
            section is measured in characters: dense text may hold more tokens than that)."""
            for _ in range(4):
                used = where.provider.count_tokens(where.model_id, messages)
                if used <= room:
                    break
                quoted, *rest = messages
                keep = len(quoted.content) * room * 9 // (used * 10)
                messages = [replace(quoted, content=quoted.content[:keep]), *rest]
            return messages

        cut = sections(pages, budget)
        read = [cut[i] for i in spread(len(cut), self._settings.map_sections)]

        async def step(messages: list[Message], params: SamplingParams) -> Turn:
            params = replace(params, max_tokens=where.lease.cap(params.max_tokens))
            room = window - (params.max_tokens or 0)
            messages = await to_thread.run_sync(shortened, messages, room)
            opened = await where.provider.open(where.model_id, messages, params, where.context)
            return self._counted(Turn(opened, where.model_id, None), where.caller)

        return MapReduce(read, len(cut), question, budget, step, reply)
