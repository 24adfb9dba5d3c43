"""Projects: chats and files that belong together, and the instructions their chats follow.

``ProjectStore`` is one owner's projects; another owner's is as absent as a missing one. A
chat started in a project (or moved into it) follows its instructions and is answered from
its files as well as its own. Deleting a project deletes its chats and its files, and erases
the files' contents that no other file holds (``storage/erasure.py``), in one transaction.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from causerie.errors import NotFoundError
from causerie.storage.conversations import owned
from causerie.storage.db import Database
from causerie.storage.erasure import erase_conversations, erase_orphaned_contents
from causerie.storage.tables import (
    LOCAL_OWNER,
    ConversationRow,
    FileRow,
    ProjectRow,
    utcnow,
)
from causerie.types import Project

NAME_LENGTH = 200


class ProjectStore:
    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def create(self, name: str, instructions: str = "", *, local_only: bool = False) -> Project:
        now = utcnow()
        row = ProjectRow(
            id=str(uuid.uuid4()),
            owner_id=self.owner,
            name=clean_name(name),
            instructions=instructions.strip(),
            archived=False,
            local_only=local_only,
            created_at=now,
            updated_at=now,
        )
        with self._db.session() as session:
            session.add(row)
            session.flush()
            return self._project(session, row)

    def list(self, *, archived: bool = False) -> list[Project]:
        """The owner's projects (the archived ones with ``archived``), most recent first."""
        query = (
            select(ProjectRow)
            .where(ProjectRow.owner_id == self.owner, ProjectRow.archived == archived)
            .order_by(ProjectRow.updated_at.desc(), ProjectRow.id)
        )
        with self._db.session() as session:
            return [self._project(session, row) for row in session.scalars(query)]

    def get(self, project_id: str) -> Project:
        with self._db.session() as session:
            return self._project(session, self._owned(session, project_id))

    def update(
        self,
        project_id: str,
        *,
        name: str | None = None,
        instructions: str | None = None,
        archived: bool | None = None,
        local_only: bool | None = None,
    ) -> Project:
        """Rename, change the instructions, archive or restore, keep local or not (None:
        unchanged)."""
        with self._db.session() as session:
            row = self._owned(session, project_id)
            if name is not None:
                row.name = clean_name(name)
            if instructions is not None:
                row.instructions = instructions.strip()
            if archived is not None:
                row.archived = archived
            if local_only is not None:
                row.local_only = local_only
            row.updated_at = utcnow()
            return self._project(session, row)

    def move(self, conversation_id: str, project_id: str | None) -> None:
        """Put one of the owner's conversations in one of their projects (None: out of any)."""
        with self._db.session() as session:
            conversation = owned(session, conversation_id, self.owner)
            if project_id is not None:
                self._owned(session, project_id)
            conversation.project_id = project_id

    def delete(self, project_id: str) -> None:
        """The project, its chats (with their messages and files) and its files, erased."""
        with self._db.session() as session:
            row = self._owned(session, project_id)
            chats = select(ConversationRow.id).where(ConversationRow.project_id == row.id)
            erase_conversations(session, chats)
            session.execute(delete(FileRow).where(FileRow.project_id == row.id))
            session.delete(row)
            erase_orphaned_contents(session)
        self._db.flush_erased()

    def _owned(self, session: Session, project_id: str) -> ProjectRow:
        row = session.get(ProjectRow, project_id)
        if row is None or row.owner_id != self.owner:
            raise NotFoundError(f"project {project_id} not found")
        return row

    @staticmethod
    def _project(session: Session, row: ProjectRow) -> Project:
        chats = session.scalar(select(func.count()).where(ConversationRow.project_id == row.id))
        files = session.scalar(select(func.count()).where(FileRow.project_id == row.id))
        return Project(
            row.id,
            row.name,
            row.instructions,
            row.archived,
            row.created_at,
            row.updated_at,
            int(chats or 0),
            int(files or 0),
            row.local_only,
        )


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())[:NAME_LENGTH]
    return cleaned or "New project"
