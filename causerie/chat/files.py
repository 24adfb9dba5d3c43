"""The files attached to a conversation, searched for a turn's question.

``ChatService`` takes a ``ChatFiles`` and asks it, for each turn in a stored conversation,
for the passages that best answer the question (hybrid search: ``retrieval/search.py``),
within a budget of characters that leaves room in the model's context for the conversation
and the reply. Only files whose text has been read take part (``searchable``, ``embedding``
or ``ready``); a file still being embedded is searched by keyword and by the vectors it has.
"""

from __future__ import annotations

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
        self, owner: str, conversation_id: str, question: str, max_chars: int
    ) -> list[PassageHit]:
        """The conversation's passages for ``question``, best first, at most ``max_chars`` of
        text in all (the best one always)."""
        store = DocumentStore(self._database, owner)

        def search() -> list[PassageHit]:
            files = [f.id for f in store.files(conversation_id=conversation_id) if f.status in READ]
            if not files:
                return []
            return hybrid_search(store, self._embedder, question, files, MAX_PASSAGES)

        hits = await to_thread.run_sync(search)
        kept: list[PassageHit] = []
        used = 0
        for hit in hits:
            if used + len(hit.text) > max_chars and kept:
                break
            kept.append(hit)
            used += len(hit.text)
        return kept
