"""``Turn``: one reply being streamed, saved exactly once when it ends or is abandoned.

A request for several choices (``SamplingParams.n``) streams them interleaved; the turn keeps
each apart (``Turn.replies``) and stores choice 0, the reply the conversation goes on from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

from causerie.providers.base import Completion
from causerie.storage import MessageDraft
from causerie.types import (
    Delta,
    Redactions,
    Source,
    TokenLogprob,
    ToolCall,
    ToolCallChunk,
    Usage,
)

SaveReply = Callable[[MessageDraft], Awaitable[str]]
OnClose = Callable[["Turn"], Awaitable[None]]


class Reply:
    """One choice of a reply as streamed so far: its text, tool calls, token logprobs, and its
    last delta once it has finished."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.parts: list[str] = []
        self.logprobs: list[TokenLogprob] = []
        self.final: Delta | None = None
        self._calls: dict[int, ToolCall] = {}  # by index, assembled from the streamed pieces

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The function calls so far, in index order."""
        return tuple(self._calls[index] for index in sorted(self._calls))

    def add(self, delta: Delta) -> None:
        self.parts.append(delta.text)
        self.logprobs.extend(delta.logprobs)
        for piece in delta.tool_calls:
            self._add_piece(piece)
        if delta.finish_reason is not None:
            self.final = delta

    def _add_piece(self, piece: ToolCallChunk) -> None:
        call = self._calls.get(piece.index) or ToolCall("", "", "")
        self._calls[piece.index] = ToolCall(
            piece.id or call.id, piece.name or call.name, call.arguments + piece.arguments
        )


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
        self._replies: dict[int, Reply] = {0: Reply(0)}
        self._usage: Usage | None = None
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
        if usage:
            return usage.completion_tokens
        return sum(1 for reply in self.replies for part in reply.parts if part)

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
    def replies(self) -> list[Reply]:
        """The choices streamed so far, by index (choice 0 always)."""
        return [self._replies[index] for index in sorted(self._replies)]

    @property
    def final(self) -> Delta | None:
        """Choice 0's last delta, once it has finished."""
        return self._replies[0].final

    @property
    def text(self) -> str:
        """Choice 0's text (a continued reply's with the text it continues)."""
        return self._prefix + self._replies[0].text

    @property
    def usage(self) -> Usage | None:
        """The tokens of the whole reply, every choice's, once it has finished."""
        return self._usage

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
        """Choice 0's function calls so far, in index order."""
        return self._replies[0].tool_calls

    async def stream(self) -> AsyncIterator[Delta]:
        async for delta in self._completion:
            reply = self._replies.get(delta.choice)
            if reply is None:
                reply = self._replies[delta.choice] = Reply(delta.choice)
            reply.add(delta)
            if delta.usage is not None:
                self._usage = delta.usage
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
        if any(reply.final is None for reply in self._replies.values()):
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
