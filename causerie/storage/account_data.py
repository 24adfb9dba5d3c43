"""Everything one owner has, read for their archive (``chat/archive_export.py``), and the
account-wide parts of an archive written back: preferences and projects.

The export reads one conversation at a time (``conversation_ids`` then ``conversation``), and
an attachment's bytes only when they are written (``attachment_bytes``), so an account with
thousands of conversations and images never sits in memory whole.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from causerie.errors import NotFoundError
from causerie.storage.attachments import MessageAttachments, StoredAttachment
from causerie.storage.conversations import ConversationSummary, StoredMessage
from causerie.storage.db import Database
from causerie.storage.preferences import PRIVATE_NAMES, names_in
from causerie.storage.tables import (
    ConversationImportRow,
    ConversationRow,
    PreferenceRow,
    ProjectRow,
    ShareRow,
    utcnow,
)
from causerie.storage.tree import MessageTree
from causerie.types import Project

__all__ = [
    "AccountChanges",
    "AccountData",
    "ConversationRecord",
    "OriginRecord",
    "ShareRecord",
]


@dataclass(frozen=True, slots=True)
class OriginRecord:
    """Where an imported conversation came from, and what that export said last."""

    source: str
    external_id: str
    seen: dict[str, Any]
    imported_at: datetime
    custom_instructions: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class ShareRecord:
    token: str
    title: str
    messages: list[dict[str, Any]]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """One conversation whole: every message (parents first), the attachments by message id,
    its own settings (JSON as stored; None: the defaults), where it was imported from (with
    what that export said last), its share links."""

    summary: ConversationSummary
    settings: dict[str, Any] | None
    messages: list[StoredMessage]
    attachments: dict[str, list[StoredAttachment]]
    origin: OriginRecord | None
    shares: list[ShareRecord]


@dataclass(slots=True)
class AccountChanges:
    """What restoring an archive's account-wide parts did, to report and to take back: the
    preferences left as the owner had them (``kept``), each changed one's row as it was
    (``before``: value and time, None when there was none), the projects created."""

    kept: list[str] = field(default_factory=list)
    before: dict[str, tuple[str, datetime] | None] = field(default_factory=dict)
    projects: list[str] = field(default_factory=list)


class AccountData:
    """One owner's data, read for an archive; preferences and projects written back."""

    def __init__(self, db: Database, owner: str) -> None:
        self._db = db
        self.owner = owner

    def conversation_ids(self) -> list[str]:
        """Every conversation of the owner, oldest first (archived, in projects, the API's)."""
        query = (
            select(ConversationRow.id)
            .where(ConversationRow.owner_id == self.owner)
            .order_by(ConversationRow.created_at, ConversationRow.id)
        )
        with self._db.reading() as connection:
            return list(connection.scalars(query))

    def conversation(self, conversation_id: str) -> ConversationRecord:
        tree = MessageTree(self._db, self.owner)
        messages = tree.every_message(conversation_id)
        attachments = tree.attachments(conversation_id)
        with self._db.session() as session:
            row = session.get(ConversationRow, conversation_id)
            if row is None or row.owner_id != self.owner:
                raise NotFoundError(f"conversation {conversation_id} not found")
            imported = session.get(ConversationImportRow, conversation_id)
            shares = session.scalars(
                select(ShareRow)
                .where(ShareRow.conversation_id == conversation_id)
                .order_by(ShareRow.created_at, ShareRow.token)
            ).all()
            return ConversationRecord(
                summary=ConversationSummary.of(row),
                settings=json.loads(row.settings) if row.settings else None,
                messages=messages,
                attachments=attachments,
                origin=None
                if imported is None
                else OriginRecord(
                    imported.source,
                    imported.external_id,
                    json.loads(imported.seen),
                    imported.imported_at,
                    json.loads(imported.custom_instructions or "null"),
                ),
                shares=[
                    ShareRecord(
                        s.token, s.title, json.loads(s.snapshot), s.created_at, s.revoked_at
                    )
                    for s in shares
                ],
            )

    def attachment_bytes(self, attachment_id: str) -> bytes:
        """The stored bytes of one of the owner's attachments."""
        return MessageAttachments(self._db, self.owner).content(attachment_id)[1]

    def preferences(self) -> dict[str, str]:
        """Every named preference (custom instructions, private names...), by name."""
        query = (
            select(PreferenceRow.name, PreferenceRow.value)
            .where(PreferenceRow.owner_id == self.owner)
            .order_by(PreferenceRow.name)
        )
        with self._db.reading() as connection:
            return {name: value for name, value in connection.execute(query)}

    def projects(self) -> list[Project]:
        query = (
            select(ProjectRow)
            .where(ProjectRow.owner_id == self.owner)
            .order_by(ProjectRow.created_at, ProjectRow.id)
        )
        with self._db.session() as session:
            return [
                Project(
                    id=p.id,
                    name=p.name,
                    instructions=p.instructions,
                    archived=bool(p.archived),
                    local_only=bool(p.local_only),
                    created_at=p.created_at,
                    updated_at=p.updated_at,
                )
                for p in session.scalars(query)
            ]

    def restore_preferences(self, preferences: Mapping[str, str], changes: AccountChanges) -> None:
        """Preferences the owner has not set take the archive's; private names are merged
        (the archive's the owner lacks are added after theirs). ``changes`` gains the names of
        those left as they were because the owner had set them otherwise, and the rows as
        they were before."""
        with self._db.session() as session:
            for name, value in preferences.items():
                row = session.get(PreferenceRow, (self.owner, name))
                if row is None or not row.value:
                    if row is None:
                        changes.before[name] = None
                        row = PreferenceRow(owner_id=self.owner, name=name, value=value)
                        session.add(row)
                    else:
                        changes.before[name] = (row.value, row.updated_at)
                    row.value, row.updated_at = value, utcnow()
                elif name == PRIVATE_NAMES:
                    have = {known.casefold() for known in names_in(row.value)}
                    extra = [n for n in names_in(value) if n.casefold() not in have]
                    if extra:
                        changes.before[name] = (row.value, row.updated_at)
                        row.value = "\n".join([row.value.rstrip("\n"), *extra])
                        row.updated_at = utcnow()
                elif row.value != value:
                    changes.kept.append(name)

    def restore_projects(
        self, projects: Iterable[Project], changes: AccountChanges
    ) -> dict[str, str]:
        """The archive's projects among the owner's: each keeps its id when that is free;
        one the owner has (same id, or else same name) is used as it is; otherwise it is
        created with an id of its own (``changes`` gains it). Returns archive project id ->
        the owner's."""
        mapping: dict[str, str] = {}
        with self._db.session() as session:
            for project in projects:
                found = session.get(ProjectRow, project.id)
                if found is not None and found.owner_id == self.owner:
                    mapping[project.id] = found.id
                    continue
                same_name = session.scalars(
                    select(ProjectRow.id).where(
                        ProjectRow.owner_id == self.owner, ProjectRow.name == project.name
                    )
                ).first()
                if found is not None and same_name is not None:
                    mapping[project.id] = same_name
                    continue
                project_id = project.id if found is None else str(uuid.uuid4())
                session.add(
                    ProjectRow(
                        id=project_id,
                        owner_id=self.owner,
                        name=project.name,
                        instructions=project.instructions,
                        archived=project.archived,
                        local_only=project.local_only,
                        created_at=project.created_at,
                        updated_at=project.updated_at,
                    )
                )
                session.flush()
                mapping[project.id] = project_id
                changes.projects.append(project_id)
        return mapping

    def undo(self, changes: AccountChanges) -> None:
        """Take back what ``changes`` records (the conversations in those projects gone
        first)."""
        with self._db.session() as session:
            for project_id in changes.projects:
                project = session.get(ProjectRow, project_id)
                if project is not None and project.owner_id == self.owner:
                    session.delete(project)
            for name, was in changes.before.items():
                row = session.get(PreferenceRow, (self.owner, name))
                if row is None:
                    continue
                if was is None:
                    session.delete(row)
                else:
                    row.value, row.updated_at = was
