"""What was read from an uploaded content, by its SHA-256: the ingestion job's side of storage.

A content goes ``pending`` → ``extracting`` → ``searchable`` (its passages are stored and
keyword-searchable) → ``embedding`` (vectors are being added, ``embedded`` of
``passage_count``) → ``ready``; or it ends ``no_text`` or ``failed`` with the reason. Each
step is saved as it is made, so that a restart resumes the reading or the embedding where the
stop left it, and a content deleted meanwhile is never resurrected.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from causerie.storage.db import Database
from causerie.storage.documents import to_blob
from causerie.storage.tables import BlobRow, PassageRow, PassageVectorRow
from causerie.types import Passage

UNREAD = ("pending", "extracting")
UNEMBEDDED = ("searchable", "embedding")


class DocumentContents:
    def __init__(self, db: Database) -> None:
        self._db = db

    # Reading

    def unread(self) -> list[str]:
        """The contents not read yet, or whose reading a stop interrupted, oldest first."""
        return self._in_state(UNREAD)

    def begin(self, sha: str) -> tuple[str, bytes] | None:
        """Mark the content as being read; its kind and bytes (None: deleted, or already read)."""
        with self._db.session() as session:
            blob = session.get(BlobRow, sha)
            if blob is None or blob.status not in UNREAD:
                return None
            blob.status = "extracting"
            return blob.kind, blob.data

    def save_passages(self, sha: str, pages: int, passages: Sequence[Passage]) -> None:
        """The text is read: the content is searchable (or has no text, without passages)."""
        with self._db.session() as session:
            blob = session.get(BlobRow, sha)
            if blob is None:  # deleted while it was read
                return
            session.execute(delete(PassageRow).where(PassageRow.blob_sha == sha))
            session.add_all(
                PassageRow(
                    blob_sha=sha,
                    position=passage.position,
                    page=passage.page,
                    start_offset=passage.start,
                    end_offset=passage.end,
                    text=passage.text,
                )
                for passage in passages
            )
            blob.pages = pages
            blob.passage_count, blob.embedded = len(passages), 0
            blob.status = "searchable" if passages else "no_text"
            blob.error = None

    def fail(self, sha: str, error: str) -> None:
        with self._db.session() as session:
            blob = session.get(BlobRow, sha)
            if blob is not None:
                blob.status, blob.error = "failed", error

    # Embedding

    def unembedded(self) -> list[str]:
        """The searchable contents whose passages are not all embedded yet, oldest first."""
        return self._in_state(UNEMBEDDED)

    def next_to_embed(self, sha: str, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` passages of the content with no vector yet, in document order, as
        (passage id, text); marks the content ``embedding``, or ``ready`` when none is left."""
        query = (
            select(PassageRow.id, PassageRow.text)
            .outerjoin(PassageVectorRow, PassageVectorRow.passage_id == PassageRow.id)
            .where(PassageRow.blob_sha == sha, PassageVectorRow.passage_id.is_(None))
            .order_by(PassageRow.position)
            .limit(limit)
        )
        with self._db.session() as session:
            blob = session.get(BlobRow, sha)
            if blob is None or blob.status not in UNEMBEDDED:
                return []
            todo = [(row.id, row.text) for row in session.execute(query)]
            blob.status = "embedding" if todo else "ready"
            return todo

    def save_vectors(
        self, sha: str, model: str, vectors: Sequence[tuple[int, Sequence[float]]]
    ) -> None:
        """Store passages' vectors (those of passages deleted meanwhile are dropped) and the
        content's progress; ``ready`` once every passage has one."""
        with self._db.session() as session:
            blob = session.get(BlobRow, sha)
            if blob is None or blob.status not in UNEMBEDDED:
                return
            if blob.embedding_model != model:  # vectors of another model do not compare
                session.execute(delete(PassageVectorRow).where(PassageVectorRow.blob_sha == sha))
                blob.embedding_model = model
                session.flush()
            alive = set(
                session.scalars(
                    select(PassageRow.id).where(
                        PassageRow.blob_sha == sha,
                        PassageRow.id.in_([passage_id for passage_id, _ in vectors]),
                    )
                )
            )
            session.add_all(
                PassageVectorRow(
                    passage_id=passage_id, blob_sha=sha, embedding=self._stored(vector)
                )
                for passage_id, vector in vectors
                if passage_id in alive
            )
            session.flush()
            blob.embedded = self._count_vectors(session, sha)
            blob.status = "ready" if blob.embedded >= blob.passage_count else "embedding"

    def _stored(self, vector: Sequence[float]) -> bytes | list[float]:
        return to_blob(vector) if self._db.is_sqlite else [float(x) for x in vector]

    @staticmethod
    def _count_vectors(session: Session, sha: str) -> int:
        counted = select(func.count()).where(PassageVectorRow.blob_sha == sha)
        return int(session.scalar(counted) or 0)

    def _in_state(self, states: tuple[str, ...]) -> list[str]:
        query = (
            select(BlobRow.sha256).where(BlobRow.status.in_(states)).order_by(BlobRow.created_at)
        )
        with self._db.session() as session:
            return list(session.scalars(query))
