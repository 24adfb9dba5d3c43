"""The files imported messages carried (``message_attachments``), read for one owner.

An attachment is stored with its bytes when the export held them, else as a placeholder that
says why not (``missing``: ``not_in_export``, ``too_large``, ``unreadable``), so the page can
show the image, or a visible note where it was. The bytes go with their message: deleting the
message or its conversation deletes them (a foreign key that cascades), and they are never
read as a document (no passages, no search, no file quota).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from causerie.errors import NotFoundError
from causerie.storage.db import Database
from causerie.storage.tables import LOCAL_OWNER, AttachmentRow, ConversationRow, MessageRow

__all__ = ["MessageAttachments", "StoredAttachment"]

_COLUMNS = (
    AttachmentRow.id,
    AttachmentRow.message_id,
    AttachmentRow.position,
    AttachmentRow.name,
    AttachmentRow.mime_type,
    AttachmentRow.size,
    AttachmentRow.width,
    AttachmentRow.height,
    AttachmentRow.missing,
)


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """What is known of an attachment, without its bytes; ``missing`` None when they are
    stored."""

    id: str
    message_id: str
    position: int
    name: str
    mime_type: str | None
    size: int | None
    width: int | None
    height: int | None
    missing: str | None

    @property
    def is_image(self) -> bool:
        return (self.mime_type or "").startswith("image/")


class MessageAttachments:
    """One owner's attachments; another owner's are as absent as missing ones."""

    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def for_conversation(self, conversation_id: str) -> dict[str, list[StoredAttachment]]:
        """The conversation's attachments by message id, in their messages' order."""
        query = (
            self._owned()
            .where(MessageRow.conversation_id == conversation_id)
            .order_by(AttachmentRow.message_id, AttachmentRow.position)
        )
        found: dict[str, list[StoredAttachment]] = {}
        with self._db.reading() as connection:
            for row in connection.execute(query):
                found.setdefault(row.message_id, []).append(StoredAttachment(*row))
        return found

    def content(self, attachment_id: str) -> tuple[StoredAttachment, bytes]:
        """An attachment and its bytes; NotFoundError when it is not the owner's, or its
        bytes were not in the export."""
        query = self._owned(AttachmentRow.data).where(AttachmentRow.id == attachment_id)
        with self._db.reading() as connection:
            row = connection.execute(query).first()
        if row is None or row.data is None:
            raise NotFoundError(f"attachment {attachment_id} not found")
        return StoredAttachment(*row[: len(_COLUMNS)]), bytes(row.data)

    def _owned(self, *extra: Any) -> Select[Any]:
        return (
            select(*_COLUMNS, *extra)
            .join(MessageRow, MessageRow.id == AttachmentRow.message_id)
            .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
            .where(ConversationRow.owner_id == self.owner)
        )
