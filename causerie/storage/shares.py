"""Read-only share links: a snapshot of a conversation's current branch behind a random token.

The snapshot is frozen when the link is made (later messages are not shared); revoking keeps
the row, marked, so the link stays dead. Deleting the conversation deletes its links.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from causerie.errors import NotFoundError
from causerie.storage.conversations import ConversationStore, owned
from causerie.storage.db import Database
from causerie.storage.tables import LOCAL_OWNER, ShareRow, utcnow

__all__ = ["Share", "SharedMessage", "ShareStore"]

TOKEN_BYTES = 24  # 32 URL-safe characters


@dataclass(frozen=True, slots=True)
class SharedMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Share:
    token: str
    conversation_id: str
    title: str
    messages: tuple[SharedMessage, ...]
    created_at: datetime
    revoked: bool

    @classmethod
    def of(cls, row: ShareRow) -> Share:
        messages = tuple(SharedMessage(m["role"], m["content"]) for m in json.loads(row.snapshot))
        return cls(
            row.token,
            row.conversation_id,
            row.title,
            messages,
            row.created_at,
            row.revoked_at is not None,
        )


class ShareStore:
    """Share links of one owner's conversations; ``get`` (the public page) is anyone's."""

    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner
        self._conversations = ConversationStore(db, owner)

    def create(self, conversation_id: str) -> Share:
        """Freeze the current branch (user and assistant messages) behind a new token."""
        summary = self._conversations.get(conversation_id)
        branch = self._conversations.branch(conversation_id)
        snapshot = [
            {"role": m.role, "content": m.content}
            for m in branch
            if m.role in ("user", "assistant")
        ]
        row = ShareRow(
            token=secrets.token_urlsafe(TOKEN_BYTES),
            conversation_id=conversation_id,
            title=summary.title,
            snapshot=json.dumps(snapshot, ensure_ascii=False),
            created_at=utcnow(),
        )
        with self._db.session() as session:
            session.add(row)
            session.flush()
            return Share.of(row)

    def get(self, token: str) -> Share:
        """A live share; revoked and unknown tokens are both simply not found."""
        with self._db.session() as session:
            row = session.get(ShareRow, token)
            if row is None or row.revoked_at is not None:
                raise NotFoundError("This shared conversation does not exist or was unshared.")
            return Share.of(row)

    def active(self, conversation_id: str) -> list[Share]:
        self._conversations.get(conversation_id)  # someone else's: not found
        query = (
            select(ShareRow)
            .where(ShareRow.conversation_id == conversation_id, ShareRow.revoked_at.is_(None))
            .order_by(ShareRow.created_at.desc())
        )
        with self._db.session() as session:
            return [Share.of(row) for row in session.scalars(query)]

    def revoke(self, conversation_id: str, token: str) -> None:
        with self._db.session() as session:
            owned(session, conversation_id, self.owner)
            row = session.get(ShareRow, token)
            if row is None or row.conversation_id != conversation_id:
                raise NotFoundError("share not found")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
