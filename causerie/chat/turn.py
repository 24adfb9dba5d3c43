"""``Turn``: one reply being streamed, saved exactly once when it ends or is abandoned."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

from causerie.providers.base import Completion
from causerie.storage import MessageDraft
from causerie.types import Delta, Redactions, Source, ToolCall, ToolCallChunk, Usage

SaveReply = Callable[[MessageDraft], Awaitable[str]]
OnClose = Callable[["Turn"], Awaitable[None]]


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
        sources: tuple[Source, ...] = (),
    ) -> None:
        self._completion = completion
        self._prefix = prefix  # a continued reply: the text it continues
        self._save = save
        self.model = model
        self.conversation_id = conversation_id
        self.user_message_id = user_message_id
        self.sources = sources  # the passages of the user's files the model was given
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
    def prompt_tokens(self) -> int:
        """The prompt's tokens (a map-reduce's reply: known once its notes are taken)."""
        return self._completion.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        """Tokens produced: the provider's count, or, for a reply cut short, the pieces seen."""
        usage = self.usage
        return usage.completion_tokens if usage else sum(1 for part in self._parts if part)

    @property
    def served_by(self) -> str:
        """The model that really answered: ``provider/model`` for an upstream (after any
        failover), else the model id."""
        return self._completion.served_by or self.model

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
        return self._completion.redactions

    @property
    def upstream_wait(self) -> float | None:
        """The upstream's own time to its first delta (None: the local model answered)."""
        return self._completion.upstream_wait

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

    def cancel(self) -> None:
        """Stop generating now, from any task (``aclose`` still saves and counts the rest)."""
        self._completion.cancel()

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
                    sources=self.sources,
                )
                self.reply_id = await self._save(draft)
            for callback in self._on_close:
                await callback(self)
