"""The conversation list: pinned first, the projects with their latest chats, then pages of the
chats in no project (keyset pagination), the archive, and the API's conversations apart; and
for ``/api/conversations``, every conversation in one list, with the changes it allows.

A page is read with a cursor (the last item's ``updated_at`` and id), never an OFFSET, so the
ten-thousandth conversation costs the same index range scan as the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, and_, or_, select

from causerie.errors import InvalidRequestError
from causerie.storage.conversations import ConversationSummary, owned
from causerie.storage.db import Database
from causerie.storage.tables import API_SOURCE, LOCAL_OWNER, ConversationRow, ProjectRow

__all__ = ["ConversationListing", "ListPage", "ProjectGroup"]

PINNED_LIMIT = 100
PROJECTS_LIMIT = 50  # in the sidebar; the others are one search away
TITLE_MAX = 200


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[ConversationSummary]
    next_cursor: str | None  # None: this was the last page


@dataclass(frozen=True, slots=True)
class ProjectGroup:
    """A project in the sidebar: its name and its latest chats (``more``: it has others)."""

    id: str
    name: str
    chats: list[ConversationSummary]
    more: bool


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

    def projects(self, chats_each: int = 5) -> list[ProjectGroup]:
        """The owner's projects that are not archived, the latest first, each with its latest
        ``chats_each`` chats that are not archived (pinned ones too: they are listed twice)."""
        query = (
            select(ProjectRow.id, ProjectRow.name)
            .where(ProjectRow.owner_id == self.owner, ProjectRow.archived.is_(False))
            .order_by(ProjectRow.updated_at.desc(), ProjectRow.id)
            .limit(PROJECTS_LIMIT)
        )
        groups = []
        with self._db.session() as session:
            for project_id, name in session.execute(query).all():
                chats = (
                    select(ConversationRow)
                    .where(
                        ConversationRow.project_id == project_id,
                        ConversationRow.archived.is_(False),
                    )
                    .order_by(ConversationRow.updated_at.desc(), ConversationRow.id.desc())
                    .limit(chats_each + 1)
                )
                found = [ConversationSummary.of(row) for row in session.scalars(chats)]
                groups.append(
                    ProjectGroup(project_id, name, found[:chats_each], len(found) > chats_each)
                )
        return groups

    def page(
        self,
        *,
        archived: bool = False,
        cursor: str | None = None,
        limit: int = 50,
        project_id: str | None = None,
        api: bool = False,
    ) -> ListPage:
        """Newest first. The sidebar (``archived=False``) leaves out pinned conversations, the
        API's (an API client's exchanges: listed on their own page, ``api``, pinned or not)
        and, without ``project_id``, those in a project (listed with it); with
        ``project_id``, the project's (the owner's: another's project has none here)."""
        query = select(ConversationRow).where(
            ConversationRow.owner_id == self.owner, ConversationRow.archived.is_(archived)
        )
        if project_id is not None:
            query = query.where(ConversationRow.project_id == project_id)
        elif api:
            query = query.where(ConversationRow.source == API_SOURCE)
        elif not archived:
            query = query.where(
                ConversationRow.pinned.is_(False),
                ConversationRow.project_id.is_(None),
                ConversationRow.source != API_SOURCE,
            )
        return self._page(query, cursor, limit)

    def every(
        self, *, archived: bool | None = None, cursor: str | None = None, limit: int = 50
    ) -> ListPage:
        """Every conversation of the owner, newest first, whatever its place in the sidebar
        (pinned, in a project, the API's); only the archived ones, or none of them, when
        ``archived`` says so."""
        query = select(ConversationRow).where(ConversationRow.owner_id == self.owner)
        if archived is not None:
            query = query.where(ConversationRow.archived.is_(archived))
        return self._page(query, cursor, limit)

    def change(
        self,
        conversation_id: str,
        *,
        title: str | None = None,
        pinned: bool | None = None,
        archived: bool | None = None,
    ) -> ConversationSummary:
        """Rename, pin or unpin, archive or restore, in one transaction. Archiving unpins (as
        the sidebar's button does); an archived conversation cannot be pinned."""
        with self._db.session() as session:
            row = owned(session, conversation_id, self.owner)
            if title is not None:
                row.title = title[:TITLE_MAX]
            if archived is not None:
                row.archived = archived
                if archived:
                    row.pinned = False
            if pinned is not None:
                if pinned and row.archived:
                    raise InvalidRequestError(
                        "An archived conversation cannot be pinned: restore it first.",
                        param="pinned",
                    )
                row.pinned = pinned
            return ConversationSummary.of(row)

    def _page(self, query: Select[ConversationRow], cursor: str | None, limit: int) -> ListPage:
        """One page of ``query`` after ``cursor``, newest first."""
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
