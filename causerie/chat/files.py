"""The files attached to a conversation, and what of them a turn's question is given.

``ChatService`` takes a ``ChatFiles`` and asks it, for each turn in a stored conversation,
for the excerpts to answer from, within a budget of characters that leaves room in the
model's context for the conversation and the reply. Two ways, chosen by the conversation's
``documents`` setting:

- ``passages``: the passages that best answer the question (hybrid search:
  ``retrieval/search.py``);
- ``whole``: the files' whole text, page by page, in order; a text longer than the budget is
  answered by a map-reduce over its sections (``chat/mapreduce.py``), never cut;
- ``auto`` (the default): the whole text when it fits in the budget, or when the question
  asks about the whole (summarise, translate, count, list all...: a question the best
  passages cannot answer); else the best passages.

Only files whose text has been read take part (``searchable``, ``embedding`` or ``ready``); a
file still being embedded is searched by keyword and by the vectors it has.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Literal

from anyio import to_thread

from causerie.retrieval.embed import Embedder
from causerie.retrieval.search import hybrid_search
from causerie.storage.db import Database
from causerie.storage.documents import DocumentStore
from causerie.types import PassageHit

READ = ("searchable", "embedding", "ready")
MAX_PASSAGES = 6
DocumentMode = Literal["auto", "passages", "whole"]
# A question about the whole of a text, in English or French: no handful of passages answers it.
# Stems match any ending; short words must end there ("count", not "country"); the French
# "compte" is left out: it is as often an account as an order to count.
WHOLE_QUESTION = re.compile(
    r"\b(summar|sum up|overview|outline|translat|how many|list (all|every)|résum|resum|"
    r"synth[eè]s|tradu|combien|liste[rz]? (tou|l)|tou(s|tes) les|en entier|"
    r"(count|every|whole|entire|entier|entière|compter|comptez)\b)",
    re.IGNORECASE,
)


def document_mode(setting: str) -> DocumentMode:
    """A conversation's stored setting as a mode (anything unknown: ``auto``)."""
    if setting == "passages":
        return "passages"
    if setting == "whole":
        return "whole"
    return "auto"


def asks_for_the_whole(question: str) -> bool:
    return WHOLE_QUESTION.search(question) is not None


def within(hits: Sequence[PassageHit], max_chars: int) -> list[PassageHit]:
    """The first ``hits`` whose text fits in ``max_chars``; a first one longer than that (a
    long page, a text file without pages) is cut to it."""
    kept: list[PassageHit] = []
    used = 0
    for hit in hits:
        if used + len(hit.text) > max_chars:
            if not kept:
                kept.append(dataclasses.replace(hit, text=hit.text[:max_chars]))
            break
        kept.append(hit)
        used += len(hit.text)
    return kept


@dataclasses.dataclass(frozen=True)
class Reading:
    """What a turn answers from: ``hits`` to quote as they are (the best passages, or a whole
    text that fits the budget); with ``too_long``, every page of the files, in order, whose text
    is longer than the budget (a map-reduce then reads them section by section)."""

    hits: list[PassageHit]
    too_long: bool = False


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
        mode: DocumentMode = "auto",
        project_id: str | None = None,
    ) -> Reading:
        """What the turn answers from, of the conversation's files (with its project's), of
        ``file_ids`` (the owner's, sent with a new conversation's first message) and of
        ``project_id``'s (the project a new conversation starts in): the best passages for
        ``question``, at most ``max_chars`` of text in all (the first excerpt always), or the
        files' whole text (see the module's docstring), uncut."""
        store = DocumentStore(self._database, owner)

        def excerpts() -> Reading:
            files = store.for_conversation(conversation_id) if conversation_id else []
            if project_id is not None:
                files += store.files(project_id=project_id)
            files += [store.get(file_id) for file_id in file_ids]
            read = list(dict.fromkeys(f.id for f in files if f.status in READ))
            if not read:
                return Reading([])
            if mode != "passages" and (
                mode == "whole"
                or asks_for_the_whole(question)
                or store.text_length(read) <= max_chars
            ):
                pages = [page for file_id in read for page in store.pages(file_id)]
                return Reading(pages, too_long=sum(len(p.text) for p in pages) > max_chars)
            hits = hybrid_search(store, self._embedder, question, read, MAX_PASSAGES)
            return Reading(within(hits, max_chars))

        return await to_thread.run_sync(excerpts)

    async def attach(self, owner: str, file_ids: Sequence[str], conversation_id: str) -> None:
        """Attach the owner's ``file_ids`` to the conversation (its later turns search them)."""
        if file_ids:
            store = DocumentStore(self._database, owner)
            await to_thread.run_sync(store.attach, file_ids, conversation_id)
