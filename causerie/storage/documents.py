"""Uploaded files, their passages, and keyword search over them.

``DocumentStore`` is one owner's files: another owner's file is as absent as a missing one.
The bytes are stored once per content (``file_blobs``, keyed by SHA-256): a second upload of
the same bytes, by anyone, adds a file row that points at them, and reuses the text already read
from them. Deleting a file deletes the bytes, passages and index entries when no other file
points at them (erasure, not a flag).

What is read from the bytes (the passages, their vectors) is recorded by the ingestion side,
``storage.contents.DocumentContents``.

Keyword search is native to each database, like ``search.py``'s: FTS5's BM25 on SQLite,
``ts_rank`` over ``to_tsvector('simple', ...)`` on Postgres. A question's words are OR-ed
(a passage need not hold every word of a question), and no user input is parsed as syntax.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import TextClause, bindparam, func, select, text
from sqlalchemy.orm import Session

from causerie.errors import InvalidRequestError, NotFoundError
from causerie.storage.conversations import owned
from causerie.storage.db import Database
from causerie.storage.erasure import erase_orphaned_contents
from causerie.storage.search import search_terms
from causerie.storage.stopwords import meaningful
from causerie.storage.tables import (
    LOCAL_OWNER,
    BlobRow,
    ConversationRow,
    FileRow,
    PassageRow,
    ProjectRow,
)
from causerie.types import FileCounts, PassageHit, StoredFile

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
QUESTION_TERMS = 16  # a question's words searched for, once the common ones are left out
# Vectors have unit length: on Postgres one minus their dot product is the cosine distance
# sqlite-vec computes. Both scan the given files' passages exactly (no approximate index: a
# question is asked of a chat's or a project's files, a few thousand passages at most).
SQLITE_SIMILAR = text(
    """
    SELECT f.id AS file_id, f.name, p.blob_sha, p.position, p.page, p.start_offset, p.end_offset, p.text,
           vec_distance_cosine(v.embedding, :vector) AS score
    FROM passage_vectors v
      JOIN passages p ON p.id = v.passage_id
      JOIN files f ON f.blob_sha = v.blob_sha
    WHERE f.owner_id = :owner AND f.id IN :files
    ORDER BY score LIMIT :limit
    """
).bindparams(bindparam("files", expanding=True))
POSTGRES_SIMILAR = text(
    """
    SELECT f.id AS file_id, f.name, p.blob_sha, p.position, p.page, p.start_offset, p.end_offset, p.text,
           1 - (SELECT sum(a * b) FROM unnest(v.embedding, CAST(:vector AS real[])) AS t(a, b)) AS score
    FROM passage_vectors v
      JOIN passages p ON p.id = v.passage_id
      JOIN files f ON f.blob_sha = v.blob_sha
    WHERE f.owner_id = :owner AND f.id IN :files
    ORDER BY score LIMIT :limit
    """
).bindparams(bindparam("files", expanding=True))


def to_blob(vector: Sequence[float]) -> bytes:
    """A vector as sqlite-vec stores it: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


@dataclass(frozen=True, slots=True)
class PassageView:
    """A cited passage in its page: ``page_text[start:end]`` is the passage."""

    file_id: str
    file_name: str
    page: int | None
    position: int
    page_text: str
    start: int
    end: int


def rebuilt(pieces: Sequence[tuple[int, int, str]]) -> str:
    """A page's text from its passages at their offsets (what no passage holds, the blanks
    between them, becomes spaces)."""
    length = max((end for _, end, _ in pieces), default=0)
    chars = [" "] * length
    for start, end, piece in pieces:
        chars[start:end] = piece
    return "".join(chars)


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
        blob.passage_count,
        blob.embedded,
        row.project_id,
    )


class DocumentStore:
    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def add(
        self,
        name: str,
        kind: str,
        data: bytes,
        *,
        conversation_id: str | None = None,
        project_id: str | None = None,
        limits: FileCounts | None = None,
    ) -> StoredFile:
        """A new file (attached to ``conversation_id`` or put in ``project_id``, which must be
        the owner's); its bytes are stored unless the same bytes already are. Beyond
        ``limits``, a 400 ``too_many_files`` and nothing stored."""
        sha = hashlib.sha256(data).hexdigest()
        with self._db.session() as session:
            if conversation_id is not None:
                owned(session, conversation_id, self.owner)
            if project_id is not None:
                project = session.get(ProjectRow, project_id)
                if project is None or project.owner_id != self.owner:
                    raise NotFoundError(f"project {project_id} not found")
            if limits is not None:
                self._check_counts(session, limits, conversation_id, project_id)
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
                project_id=project_id,
            )
            session.add(row)
            session.flush()
            return _stored(row, blob)

    def _check_counts(
        self,
        session: Session,
        limits: FileCounts,
        conversation_id: str | None,
        project_id: str | None,
    ) -> None:
        counted = select(func.count()).select_from(FileRow)
        held = session.scalar(counted.where(FileRow.owner_id == self.owner)) or 0
        if held >= limits.per_user:
            raise InvalidRequestError(
                f"You keep {held:,} files, the most allowed; delete some before uploading more.",
                code="too_many_files",
            )
        for column, place, what in (
            (FileRow.conversation_id, conversation_id, "This conversation"),
            (FileRow.project_id, project_id, "This project"),
        ):
            if (
                place is not None
                and (session.scalar(counted.where(column == place)) or 0) >= limits.per_chat
            ):
                raise InvalidRequestError(
                    f"{what} holds {limits.per_chat:,} files, the most allowed.",
                    code="too_many_files",
                )

    def attach(self, file_ids: Sequence[str], conversation_id: str) -> None:
        """Attach the owner's files to one of the owner's conversations (unknown ids: 404)."""
        with self._db.session() as session:
            owned(session, conversation_id, self.owner)
            for file_id in file_ids:
                self._owned(session, file_id).conversation_id = conversation_id

    def for_conversation(self, conversation_id: str) -> list[StoredFile]:
        """The files a conversation's turns search: its own, and its project's (one read)."""
        project = (
            select(ConversationRow.project_id)
            .where(ConversationRow.id == conversation_id, ConversationRow.owner_id == self.owner)
            .scalar_subquery()
        )
        query = (
            select(FileRow, BlobRow)
            .join(BlobRow, BlobRow.sha256 == FileRow.blob_sha)
            .where(
                FileRow.owner_id == self.owner,
                (FileRow.conversation_id == conversation_id) | (FileRow.project_id == project),
            )
            .order_by(FileRow.created_at.desc(), FileRow.id)
        )
        with self._db.session() as session:
            return [_stored(row, blob) for row, blob in session.execute(query)]

    def text_length(self, file_ids: Sequence[str]) -> int:
        """How many characters the files' text holds (each page's length, from its last
        passage's end: the passages' overlaps are not counted twice)."""
        if not file_ids:
            return 0
        pages = (
            select(func.max(PassageRow.end_offset).label("length"))
            .join(FileRow, FileRow.blob_sha == PassageRow.blob_sha)
            .where(FileRow.owner_id == self.owner, FileRow.id.in_(list(file_ids)))
            .group_by(FileRow.id, PassageRow.page)
            .subquery()
        )
        with self._db.session() as session:
            return int(session.scalar(select(func.coalesce(func.sum(pages.c.length), 0))) or 0)

    def get(self, file_id: str) -> StoredFile:
        with self._db.session() as session:
            row = self._owned(session, file_id)
            return _stored(row, session.get_one(BlobRow, row.blob_sha))

    def files(
        self, *, conversation_id: str | None = None, project_id: str | None = None
    ) -> list[StoredFile]:
        """The owner's files, newest first; with ``conversation_id``, those attached to it;
        with ``project_id``, those of the project."""
        query = (
            select(FileRow, BlobRow)
            .join(BlobRow, BlobRow.sha256 == FileRow.blob_sha)
            .where(FileRow.owner_id == self.owner)
            .order_by(FileRow.created_at.desc(), FileRow.id)
        )
        if conversation_id is not None:
            query = query.where(FileRow.conversation_id == conversation_id)
        if project_id is not None:
            query = query.where(FileRow.project_id == project_id)
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
            session.delete(self._owned(session, file_id))
            erase_orphaned_contents(session)
        self._db.flush_erased()

    def passage(self, file_id: str, position: int) -> PassageView:
        """A passage of the file and the text of its page around it (the page's passages put
        back together at their offsets), for a citation that opens it highlighted."""
        with self._db.session() as session:
            row = self._owned(session, file_id)
            cited = session.scalar(
                select(PassageRow).where(
                    PassageRow.blob_sha == row.blob_sha, PassageRow.position == position
                )
            )
            if cited is None:
                raise NotFoundError(f"passage {position} of file {file_id} not found")
            page_query = select(PassageRow).where(PassageRow.blob_sha == row.blob_sha)
            page_query = page_query.where(
                PassageRow.page.is_(None) if cited.page is None else PassageRow.page == cited.page
            )
            pieces = [(p.start_offset, p.end_offset, p.text) for p in session.scalars(page_query)]
            page_text = rebuilt(pieces)
            return PassageView(
                row.id,
                row.name,
                cited.page,
                position,
                page_text,
                cited.start_offset,
                cited.end_offset,
            )

    def pages(self, file_id: str) -> list[PassageHit]:
        """The file's whole text, a page at a time (put back together from its passages), in
        order; each page as a hit on its first passage, for a citation that opens it."""
        with self._db.session() as session:
            row = self._owned(session, file_id)
            query = (
                select(PassageRow)
                .where(PassageRow.blob_sha == row.blob_sha)
                .order_by(PassageRow.position)
            )
            by_page: dict[int | None, list[PassageRow]] = {}
            for passage in session.scalars(query):
                by_page.setdefault(passage.page, []).append(passage)
            return [
                PassageHit(
                    row.id,
                    row.name,
                    row.blob_sha,
                    rows[0].position,
                    page,
                    0,
                    rows[-1].end_offset,
                    rebuilt([(p.start_offset, p.end_offset, p.text) for p in rows]).strip(),
                    0.0,
                )
                for page, rows in by_page.items()
            ]

    def search(self, query: str, file_ids: Sequence[str], limit: int = 20) -> list[PassageHit]:
        """The passages of ``file_ids`` (the owner's) that match ``query``'s words, best first;
        a passage the owner uploaded twice is found once."""
        terms = meaningful(search_terms(query, limit=64))[:QUESTION_TERMS]
        if not terms or not file_ids:
            return []
        if self._db.is_sqlite:
            statement, match = SQLITE_SEARCH, " OR ".join(f'"{term}"' for term in terms)
        else:
            statement, match = POSTGRES_SEARCH, " | ".join(terms)
        return self._ranked(statement, match, file_ids, limit)

    def similar(
        self, vector: Sequence[float], file_ids: Sequence[str], limit: int = 20
    ) -> list[PassageHit]:
        """The passages of ``file_ids`` whose vectors are nearest ``vector`` (a unit vector),
        nearest first; passages not embedded yet are not among them."""
        if not file_ids:
            return []
        if self._db.is_sqlite:
            return self._ranked(SQLITE_SIMILAR, to_blob(vector), file_ids, limit, "vector")
        floats = [float(x) for x in vector]
        return self._ranked(POSTGRES_SIMILAR, floats, file_ids, limit, "vector")

    def _ranked(
        self,
        statement: TextClause,
        query: object,
        file_ids: Sequence[str],
        limit: int,
        param: str = "query",
    ) -> list[PassageHit]:
        params = {param: query, "owner": self.owner, "files": list(file_ids), "limit": limit}
        hits: dict[tuple[str, int], PassageHit] = {}
        with self._db.reading() as connection:
            for row in connection.execute(statement, params):
                hit = PassageHit(
                    row.file_id,
                    row.name,
                    row.blob_sha,
                    row.position,
                    row.page,
                    row.start_offset,
                    row.end_offset,
                    row.text,
                    float(row.score),
                )
                hits.setdefault(hit.key, hit)
        return list(hits.values())

    def _owned(self, session: Session, file_id: str) -> FileRow:
        row = session.get(FileRow, file_id)
        if row is None or row.owner_id != self.owner:
            raise NotFoundError(f"file {file_id} not found")
        return row
