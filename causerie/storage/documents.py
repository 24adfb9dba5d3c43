"""Uploaded files, their passages, and keyword search over them.

``DocumentStore`` is one owner's files: another owner's file is as absent as a missing one.
The bytes are stored once per content (``file_blobs``, keyed by SHA-256): a second upload of
the same bytes, by anyone, adds a file row that points at them, and reuses the text already read
from them. Deleting a file deletes the bytes, passages and index entries when no other file
points at them (erasure, not a flag).

``DocumentContents`` is the ingestion side, by content hash: it records what was read from the
bytes (the passages, or why there is no text).

Keyword search is native to each database, like ``search.py``'s: FTS5's BM25 on SQLite,
``ts_rank`` over ``to_tsvector('simple', ...)`` on Postgres. A question's words are OR-ed
(a passage need not hold every word of a question), and no user input is parsed as syntax.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.orm import Session

from causerie.errors import NotFoundError
from causerie.storage.conversations import owned
from causerie.storage.db import Database
from causerie.storage.search import search_terms
from causerie.storage.tables import LOCAL_OWNER, BlobRow, FileRow, PassageRow
from causerie.types import Passage, StoredFile

SQLITE_SEARCH = text(
    """
    SELECT f.id AS file_id, f.name, p.blob_sha, p.position, p.page, p.start_offset, p.end_offset, p.text,
           bm25(passages_fts) AS score
    FROM passages_fts
      JOIN passages p ON p.id = passages_fts.rowid
      JOIN files f ON f.blob_sha = p.blob_sha
    WHERE passages_fts MATCH :query AND f.owner_id = :owner AND f.id IN :files
    ORDER BY score LIMIT :limit
    """
).bindparams(bindparam("files", expanding=True))
POSTGRES_SEARCH = text(
    """
    SELECT f.id AS file_id, f.name, p.blob_sha, p.position, p.page, p.start_offset, p.end_offset, p.text,
           -ts_rank(to_tsvector('simple', p.text), q) AS score
    FROM passages p JOIN files f ON f.blob_sha = p.blob_sha, to_tsquery('simple', :query) q
    WHERE to_tsvector('simple', p.text) @@ q AND f.owner_id = :owner AND f.id IN :files
    ORDER BY score LIMIT :limit
    """
).bindparams(bindparam("files", expanding=True))


@dataclass(frozen=True, slots=True)
class PassageHit:
    file_id: str
    file_name: str
    position: int
    page: int | None
    start: int
    end: int
    text: str
    score: float  # lower is better (BM25's sign, and ts_rank negated)


def _stored(row: FileRow, blob: BlobRow) -> StoredFile:
    return StoredFile(
        row.id,
        row.name,
        blob.kind,
        blob.size,
        blob.sha256,
        blob.status,
        blob.error,
        blob.pages,
        row.conversation_id,
        row.created_at,
    )


class DocumentStore:
    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def add(
        self, name: str, kind: str, data: bytes, *, conversation_id: str | None = None
    ) -> StoredFile:
        """A new file (attached to ``conversation_id``, which must be the owner's); its bytes
        are stored unless the same bytes already are."""
        sha = hashlib.sha256(data).hexdigest()
        with self._db.session() as session:
            if conversation_id is not None:
                owned(session, conversation_id, self.owner)
            blob = session.get(BlobRow, sha)
            if blob is None:
                blob = BlobRow(sha256=sha, size=len(data), data=data, kind=kind, status="pending")
                session.add(blob)
            row = FileRow(
                id=str(uuid.uuid4()),
                owner_id=self.owner,
                blob_sha=sha,
                name=name[:255],
                conversation_id=conversation_id,
            )
            session.add(row)
            session.flush()
            return _stored(row, blob)

    def get(self, file_id: str) -> StoredFile:
        with self._db.session() as session:
            row = self._owned(session, file_id)
            return _stored(row, session.get_one(BlobRow, row.blob_sha))

    def files(self, *, conversation_id: str | None = None) -> list[StoredFile]:
        """The owner's files, newest first; with ``conversation_id``, those attached to it."""
        query = (
            select(FileRow, BlobRow)
            .join(BlobRow, BlobRow.sha256 == FileRow.blob_sha)
            .where(FileRow.owner_id == self.owner)
            .order_by(FileRow.created_at.desc(), FileRow.id)
        )
        if conversation_id is not None:
            query = query.where(FileRow.conversation_id == conversation_id)
        with self._db.session() as session:
            return [_stored(row, blob) for row, blob in session.execute(query)]

    def content(self, file_id: str) -> tuple[str, bytes]:
        """The file's name and its bytes, as uploaded."""
        with self._db.session() as session:
            row = self._owned(session, file_id)
            return row.name, session.get_one(BlobRow, row.blob_sha).data

    def delete(self, file_id: str) -> None:
        """Delete the file, and its bytes, passages and index entries if no file shares them."""
        with self._db.session() as session:
            row = self._owned(session, file_id)
            sha = row.blob_sha
            session.delete(row)
            session.flush()
            others = session.scalar(select(func.count()).where(FileRow.blob_sha == sha))
            if not others:
                session.execute(delete(PassageRow).where(PassageRow.blob_sha == sha))
                session.execute(delete(BlobRow).where(BlobRow.sha256 == sha))

    def search(self, query: str, file_ids: Sequence[str], limit: int = 20) -> list[PassageHit]:
        """The passages of ``file_ids`` (the owner's) that match ``query``'s words, best first;
        a passage the owner uploaded twice is found once."""
        terms = search_terms(query)
        if not terms or not file_ids:
            return []
        if self._db.is_sqlite:
            statement, match = SQLITE_SEARCH, " OR ".join(f'"{term}"' for term in terms)
        else:
            statement, match = POSTGRES_SEARCH, " | ".join(terms)
        params = {"query": match, "owner": self.owner, "files": list(file_ids), "limit": limit}
        hits: dict[tuple[str, int], PassageHit] = {}
        with self._db.reading() as connection:
            for row in connection.execute(statement, params):
                hit = PassageHit(
                    row.file_id,
                    row.name,
                    row.position,
                    row.page,
                    row.start_offset,
                    row.end_offset,
                    row.text,
                    float(row.score),
                )
                hits.setdefault((row.blob_sha, row.position), hit)
        return list(hits.values())

    def _owned(self, session: Session, file_id: str) -> FileRow:
        row = session.get(FileRow, file_id)
        if row is None or row.owner_id != self.owner:
            raise NotFoundError(f"file {file_id} not found")
        return row


class DocumentContents:
    """What was read from a content, by its SHA-256 (the ingestion job's side)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def unread(self) -> list[str]:
        """The contents not read yet, or whose reading a stop interrupted, oldest first."""
        query = (
            select(BlobRow.sha256)
            .where(BlobRow.status.in_(("pending", "extracting")))
            .order_by(BlobRow.created_at)
        )
        with self._db.session() as session:
            return list(session.scalars(query))

    def begin(self, sha: str) -> tuple[str, bytes] | None:
        """Mark the content as being read; its kind and bytes (None: deleted, or already read)."""
        with self._db.session() as session:
            blob = session.get(BlobRow, sha)
            if blob is None or blob.status not in ("pending", "extracting"):
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
            blob.status = "searchable" if passages else "no_text"
            blob.error = None

    def fail(self, sha: str, error: str) -> None:
        with self._db.session() as session:
            blob = session.get(BlobRow, sha)
            if blob is not None:
                blob.status, blob.error = "failed", error
