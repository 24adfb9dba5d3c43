"""Stored Responses API answers as the API sees them: the history a ``previous_response_id``
continues, and the response objects kept for ``GET`` and ``DELETE``.

A stored response is a turn of an API conversation (``ChatService.complete`` stores it like any
chat completion): the response remembers which conversation and which reply it was, so the next
response goes on from that reply, and the conversation shows in the user's history.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread

from causerie.chat.turn import Turn
from causerie.storage.conversations import ConversationStore
from causerie.storage.db import Database
from causerie.storage.stored_responses import ResponseStore
from causerie.types import Message


class ResponseHistory:
    """One owner's stored responses."""

    def __init__(self, database: Database, owner: str) -> None:
        self._store = ResponseStore(database, owner)
        self._conversations = ConversationStore(database, owner)

    async def continued(self, response_id: str) -> list[Message]:
        """The turns up to ``response_id``'s reply, without their system messages (a request's
        ``instructions`` are its own, as OpenAI's are); 404 for an unknown id."""

        def read() -> list[Message]:
            stored = self._store.get(response_id)
            branch = self._conversations.branch(stored.conversation_id, stored.reply_id)
            return [m.as_message() for m in branch if m.role != "system"]

        return await to_thread.run_sync(read)

    async def save(self, response_id: str, turn: Turn, body: dict[str, Any]) -> None:
        """Keep ``body`` for the turn that produced it (a turn that stored nothing: nothing)."""
        conversation, reply = turn.conversation_id, turn.reply_id
        if conversation is None or reply is None:
            return
        await to_thread.run_sync(self._store.save, response_id, conversation, reply, body)

    async def get(self, response_id: str) -> dict[str, Any]:
        stored = await to_thread.run_sync(self._store.get, response_id)
        return stored.body

    async def delete(self, response_id: str) -> None:
        await to_thread.run_sync(self._store.delete, response_id)
