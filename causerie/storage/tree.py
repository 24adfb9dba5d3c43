"""Walking a conversation's message tree: the branch on screen, its siblings, moving the leaf.

Every message knows its siblings (the other children of its parent, oldest first), so the page
can show "‹ 2/3 ›" at any depth. Hidden messages (an imported system prompt, custom
instructions) stay in the tree, holding their children, but are never in a thread nor anyone's
sibling. Choosing a sibling moves the conversation's current leaf to the
leaf below it: the current one if it lies below, else the newest descendant at each step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from causerie.errors import InvalidRequestError, NotFoundError
from causerie.storage.attachments import MessageAttachments, StoredAttachment
from causerie.storage.conversations import StoredMessage, owned
from causerie.storage.db import Database
from causerie.storage.tables import LOCAL_OWNER, ConversationRow, MessageRow

__all__ = ["MessageTree", "ThreadMessage"]

COMMENT_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """A message on the branch being shown, with the ids of its siblings (itself included)."""

    message: StoredMessage
    siblings: tuple[str, ...]

    @property
    def position(self) -> int:
        """1-based rank among its siblings."""
        return self.siblings.index(self.message.id) + 1


class _Tree:
    """One conversation's rows, indexed by id and by parent."""

    def __init__(self, rows: Sequence[MessageRow]) -> None:
        self.by_id = {row.id: row for row in rows}
        self.children: defaultdict[str | None, list[MessageRow]] = defaultdict(list)
        for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
            self.children[row.parent_id].append(row)

    def shown_siblings(self, row: MessageRow) -> tuple[str, ...]:
        return tuple(s.id for s in self.children[row.parent_id] if s.hidden is None)

    def path_to(self, message_id: str) -> list[MessageRow]:
        path: list[MessageRow] = []
        cursor: str | None = message_id
        while cursor is not None:
            row = self.by_id[cursor]
            path.append(row)
            cursor = row.parent_id
        path.reverse()
        return path

    def leaf_below(self, message_id: str, current_leaf: str | None) -> str:
        """The current leaf if it lies below ``message_id``, else the newest leaf below it."""
        if current_leaf is not None and current_leaf in self.by_id:
            if any(row.id == message_id for row in self.path_to(current_leaf)):
                return current_leaf
        cursor = message_id
        while self.children.get(cursor):
            cursor = self.children[cursor][-1].id
        return cursor


class MessageTree:
    """Reads branches with their siblings; selects branches; stores feedback on replies."""

    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def thread(self, conversation_id: str, through: str | None = None) -> list[ThreadMessage]:
        """The branch to the current leaf, or, with ``through``, the branch through that message
        (down to the leaf ``select`` would pick). Does not move the current leaf."""
        with self._db.session() as session:
            conversation, tree = _load(session, conversation_id, self.owner)
            leaf = conversation.current_leaf_id
            if through is not None:
                if through not in tree.by_id:
                    raise NotFoundError(f"message {through} not found")
                leaf = tree.leaf_below(through, leaf)
            if leaf is None or leaf not in tree.by_id:
                return []
            return [
                ThreadMessage(StoredMessage.of(row), tree.shown_siblings(row))
                for row in tree.path_to(leaf)
                if row.hidden is None
            ]

    def every_message(self, conversation_id: str) -> list[StoredMessage]:
        """The whole tree, every branch, parents before children (depth first, for export)."""
        with self._db.session() as session:
            _, tree = _load(session, conversation_id, self.owner)
            ordered: list[StoredMessage] = []
            stack = list(reversed(tree.children[None]))
            while stack:
                row = stack.pop()
                ordered.append(StoredMessage.of(row))
                stack.extend(reversed(tree.children.get(row.id, [])))
            return ordered

    def attachments(self, conversation_id: str) -> dict[str, list[StoredAttachment]]:
        """The files the conversation's (imported) messages carried, by message id."""
        return MessageAttachments(self._db, self.owner).for_conversation(conversation_id)

    def attachment(self, attachment_id: str) -> tuple[StoredAttachment, bytes]:
        """One of the owner's attachments with its bytes; NotFoundError when it is another's,
        or a placeholder (its bytes were not in the export)."""
        return MessageAttachments(self._db, self.owner).content(attachment_id)

    def select(self, conversation_id: str, message_id: str) -> str:
        """Show the branch through ``message_id`` from now on; returns the new current leaf."""
        with self._db.session() as session:
            conversation, tree = _load(session, conversation_id, self.owner)
            if message_id not in tree.by_id:
                raise NotFoundError(f"message {message_id} not found")
            leaf = tree.leaf_below(message_id, conversation.current_leaf_id)
            conversation.current_leaf_id = leaf
            return leaf

    def set_feedback(
        self, conversation_id: str, message_id: str, rating: int | None, comment: str | None
    ) -> StoredMessage:
        """Thumbs up (1), down (-1) or neither (None) on a reply, with an optional comment."""
        if rating not in (1, -1, None):
            raise InvalidRequestError("The rating must be 1, -1 or null.", param="rating")
        with self._db.session() as session:
            owned(session, conversation_id, self.owner)
            row = session.get(MessageRow, message_id)
            if row is None or row.conversation_id != conversation_id:
                raise NotFoundError(f"message {message_id} not found")
            if row.role != "assistant":
                raise InvalidRequestError("Only replies take feedback.", param="message_id")
            row.rating = rating
            row.feedback_comment = (comment or "").strip()[:COMMENT_LENGTH] or None
            return StoredMessage.of(row)


def _load(session: Session, conversation_id: str, owner: str) -> tuple[ConversationRow, _Tree]:
    conversation = owned(session, conversation_id, owner)
    rows = session.scalars(
        select(MessageRow).where(MessageRow.conversation_id == conversation_id)
    ).all()
    return conversation, _Tree(rows)
