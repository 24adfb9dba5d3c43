"""The conversation list: pinned first, then pages of the rest (keyset pagination), and the archive.

A page is read with a cursor (the last item's ``updated_at`` and id), never an OFFSET, so the
ten-thousandth conversation costs the same index range scan as the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select

from causerie.errors import InvalidRequestError
from causerie.storage.conversations import ConversationSummary, owned
from causerie.storage.db import Database
from causerie.storage.tables import LOCAL_OWNER, ConversationRow

__all__ = ["ConversationListing", "ListPage"]

PINNED_LIMIT = 100


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[ConversationSummary]
    next_cursor: str | None  # None: this was the last page


def encode_cursor(item: ConversationSummary) -> str:
    return f"{as_utc(item.updated_at).isoformat()}|{item.id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, conversation_id = cursor.split("|", 1)
        return as_utc(datetime.fromisoformat(stamp)), conversation_id
    except ValueError:
        raise InvalidRequestError("The cursor is not valid.", param="cursor") from None


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ConversationListing:
    """Reads the sidebar and the archive; pins, unpins, archives and restores."""

    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def pinned(self) -> list[ConversationSummary]:
        query = (
            select(ConversationRow)
            .where(
                ConversationRow.owner_id == self.owner,
                ConversationRow.pinned.is_(True),
                ConversationRow.archived.is_(False),
            )
            .order_by(ConversationRow.updated_at.desc(), ConversationRow.id.desc())
            .limit(PINNED_LIMIT)
        )
        with self._db.session() as session:
            return [ConversationSummary.of(row) for row in session.scalars(query)]

    def page(
        self, *, archived: bool = False, cursor: str | None = None, limit: int = 50
    ) -> ListPage:
        """Newest first. The sidebar (``archived=False``) leaves out pinned conversations."""
        query = select(ConversationRow).where(
            ConversationRow.owner_id == self.owner, ConversationRow.archived.is_(archived)
        )
        if not archived:
            query = query.where(ConversationRow.pinned.is_(False))
        if cursor is not None:
            stamp, last_id = decode_cursor(cursor)
            query = query.where(
                or_(
                    ConversationRow.updated_at < stamp,
                    and_(ConversationRow.updated_at == stamp, ConversationRow.id < last_id),
                )
            )
        query = query.order_by(ConversationRow.updated_at.desc(), ConversationRow.id.desc()).limit(
            limit + 1
        )
        with self._db.session() as session:
            items = [ConversationSummary.of(row) for row in session.scalars(query)]
        more = len(items) > limit
        items = items[:limit]
        return ListPage(items, encode_cursor(items[-1]) if more and items else None)

    def set_pinned(self, conversation_id: str, pinned: bool) -> None:
        with self._db.session() as session:
            owned(session, conversation_id, self.owner).pinned = pinned

    def set_archived(self, conversation_id: str, archived: bool) -> None:
        with self._db.session() as session:
            row = owned(session, conversation_id, self.owner)
            row.archived = archived
            if archived:
                row.pinned = False
