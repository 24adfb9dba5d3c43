"""Erasing uploaded contents that no file points at any more: their bytes, passages, vectors
and keyword-index entries (the index follows the passages: triggers on SQLite, an expression
index on Postgres).

A file row can go in several ways: deleted by its owner, or with the conversation it is
attached to (a foreign key that cascades). Whichever way, the content it pointed at must not
outlive the last file: ``erase_orphaned_contents`` runs in the same transaction as the
deletion.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from causerie.storage.tables import BlobRow, FileRow, PassageRow, PassageVectorRow


def erase_orphaned_contents(session: Session) -> None:
    """Delete every content, with its passages and vectors, that no file row points at."""
    session.flush()
    pointed = select(FileRow.blob_sha)
    session.execute(delete(PassageVectorRow).where(PassageVectorRow.blob_sha.not_in(pointed)))
    session.execute(delete(PassageRow).where(PassageRow.blob_sha.not_in(pointed)))
    session.execute(delete(BlobRow).where(BlobRow.sha256.not_in(pointed)))
