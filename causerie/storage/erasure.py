"""Erasure that is real: every row that holds what a conversation, or a whole account, held.

Three ways in, one transaction each (the caller's session):

- ``erase_conversations``: conversations with their messages, the files their messages
  carried (``message_attachments``), their share links, stored ``/v1/responses``, import
  records and attached uploads.
- ``erase_owner``: everything of one account (or of the single local user): the above for all
  their conversations, then their projects, uploads, preferences, import jobs, sessions, API
  keys, invitations, rate counters and the account row. Usage counters stay (numbers, no
  content, under the account's id), and so does the audit log (events, no content): see
  docs/accounts.md.
- ``erase_orphaned_contents``: uploaded contents no file points at any more (bytes, passages,
  vectors and keyword-index entries: the index follows the passages, by triggers on SQLite and
  an expression index on Postgres). A file row can go in several ways (deleted by its owner,
  with its conversation, with its project or account); whichever way, the content it pointed
  at must not outlive the last file, so the erasures above end with it.

On SQLite the deleted bytes are also gone from the file: ``secure_delete`` zeroes them, FTS5's
``secure-delete`` takes the words out of the search indexes, and the caller then runs
``Database.flush_erased`` (a checkpoint that truncates the write-ahead log).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.orm import Session

from causerie.storage.tables import (
    ApiKeyRow,
    AttachmentRow,
    BlobRow,
    ConversationImportRow,
    ConversationRow,
    FileRow,
    ImportJobRow,
    InviteRow,
    LeaseRow,
    MessageRow,
    PassageRow,
    PassageVectorRow,
    PreferenceRow,
    ProjectRow,
    RateWindowRow,
    ResponseRow,
    SessionRow,
    ShareRow,
    UserRow,
)

__all__ = ["Erased", "erase_conversations", "erase_orphaned_contents", "erase_owner"]

ConversationIds = Sequence[str] | Select[Any]


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure removed, counted (for the audit log: numbers, never content)."""

    conversations: int = 0
    messages: int = 0

    def __add__(self, other: Erased) -> Erased:
        return Erased(self.conversations + other.conversations, self.messages + other.messages)


def erase_conversations(session: Session, ids: ConversationIds) -> Erased:
    """Delete the conversations ``ids`` (a list, or a select of ids) and all they hold."""
    session.flush()
    if isinstance(ids, Sequence) and not ids:
        return Erased()
    messages = select(MessageRow.id).where(MessageRow.conversation_id.in_(ids))
    session.execute(delete(AttachmentRow).where(AttachmentRow.message_id.in_(messages)))
    session.execute(delete(ShareRow).where(ShareRow.conversation_id.in_(ids)))
    session.execute(delete(ResponseRow).where(ResponseRow.conversation_id.in_(ids)))
    session.execute(
        delete(ConversationImportRow).where(ConversationImportRow.conversation_id.in_(ids))
    )
    message_count = session.scalar(
        select(func.count()).select_from(MessageRow).where(MessageRow.conversation_id.in_(ids))
    )
    session.execute(delete(MessageRow).where(MessageRow.conversation_id.in_(ids)))
    session.execute(delete(FileRow).where(FileRow.conversation_id.in_(ids)))
    gone = session.execute(delete(ConversationRow).where(ConversationRow.id.in_(ids)))
    erase_orphaned_contents(session)
    return Erased(int(getattr(gone, "rowcount", 0) or 0), int(message_count or 0))


def erase_owner(session: Session, owner_id: str) -> Erased:
    """Delete every row that holds something of ``owner_id``'s, the account row included;
    usage counters and audit events stay (see the module's docstring)."""
    owned = select(ConversationRow.id).where(ConversationRow.owner_id == owner_id)
    erased = erase_conversations(session, owned)
    session.execute(delete(FileRow).where(FileRow.owner_id == owner_id))
    session.execute(delete(ProjectRow).where(ProjectRow.owner_id == owner_id))
    for table in (PreferenceRow, ImportJobRow, ConversationImportRow, ResponseRow):
        session.execute(delete(table).where(table.owner_id == owner_id))
    for keyed in (SessionRow, ApiKeyRow, RateWindowRow, LeaseRow):
        session.execute(delete(keyed).where(keyed.user_id == owner_id))
    session.execute(
        delete(InviteRow).where(
            or_(InviteRow.created_by == owner_id, InviteRow.used_by == owner_id)
        )
    )
    session.execute(delete(UserRow).where(UserRow.id == owner_id))
    erase_orphaned_contents(session)
    return erased


def erase_orphaned_contents(session: Session) -> None:
    """Delete every content, with its passages and vectors, that no file row points at."""
    session.flush()
    pointed = select(FileRow.blob_sha)
    session.execute(delete(PassageVectorRow).where(PassageVectorRow.blob_sha.not_in(pointed)))
    session.execute(delete(PassageRow).where(PassageRow.blob_sha.not_in(pointed)))
    session.execute(delete(BlobRow).where(BlobRow.sha256.not_in(pointed)))
