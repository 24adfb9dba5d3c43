"""The files attached to a conversation, searched for a turn's question.

``ChatService`` takes a ``ChatFiles`` and asks it, for each turn in a stored conversation,
for the passages that best answer the question (hybrid search: ``retrieval/search.py``),
within a budget of characters that leaves room in the model's context for the conversation
and the reply. Only files whose text has been read take part (``searchable``, ``embedding``
or ``ready``); a file still being embedded is searched by keyword and by the vectors it has.
"""

from __future__ import annotations

from collections.abc import Sequence

from anyio import to_thread

from causerie.retrieval.embed import Embedder
from causerie.retrieval.search import hybrid_search
from causerie.storage.db import Database
from causerie.storage.documents import DocumentStore
from causerie.types import PassageHit

READ = ("searchable", "embedding", "ready")
MAX_PASSAGES = 6


class ChatFiles:
    def __init__(self, database: Database, embedder: Embedder | None) -> None:
        self._database = database
        self._embedder = embedder

    async def passages(
        self,
        owner: str,
        conversation_id: str | None,
        question: str,
        max_chars: int,
        file_ids: Sequence[str] = (),
    ) -> list[PassageHit]:
        """The passages for ``question`` of the conversation's files and of ``file_ids`` (the
        owner's, sent with a new conversation's first message), best first, at most
        ``max_chars`` of text in all (the best one always)."""
        store = DocumentStore(self._database, owner)

        def search() -> list[PassageHit]:
            files = store.files(conversation_id=conversation_id) if conversation_id else []
            files += [store.get(file_id) for file_id in file_ids]
            read = list(dict.fromkeys(f.id for f in files if f.status in READ))
            if not read:
                return []
            return hybrid_search(store, self._embedder, question, read, MAX_PASSAGES)

        hits = await to_thread.run_sync(search)
        kept: list[PassageHit] = []
        used = 0
        for hit in hits:
            if used + len(hit.text) > max_chars and kept:
                break
            kept.append(hit)
            used += len(hit.text)
        return kept

    async def attach(self, owner: str, file_ids: Sequence[str], conversation_id: str) -> None:
        """Attach the owner's ``file_ids`` to the conversation (its later turns search them)."""
        if file_ids:
            store = DocumentStore(self._database, owner)
            await to_thread.run_sync(store.attach, file_ids, conversation_id)
