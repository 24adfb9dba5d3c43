"""Conversations as message trees, and the hash chain that maps resent API histories onto them."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from causerie.errors import NotFoundError
from causerie.storage.db import Database
from causerie.storage.erasure import erase_conversations
from causerie.storage.tables import (
    API_SOURCE,
    LOCAL_OWNER,
    ConversationRow,
    MessageRow,
    ProjectRow,
    utcnow,
)
from causerie.types import Message, Reasoning, Redactions, Role, Source, ToolCall

TITLE_LENGTH = 80


def chain_hash(
    parent_hash: str,
    role: str,
    content: str,
    tool_calls: Sequence[ToolCall] = (),
    tool_call_id: str | None = None,
) -> str:
    """The key of a message: the same text (and tool calls) after the same history has the same
    hash. A message without tool calls hashes as it always did."""
    digest = hashlib.sha256()
    parts = [parent_hash, role, content]
    if tool_calls or tool_call_id is not None:
        parts += [tool_calls_json(tool_calls) or "", tool_call_id or ""]
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def tool_calls_json(calls: Sequence[ToolCall]) -> str | None:
    """Tool calls as stored: OpenAI's JSON shape, keys in a fixed order (None: no calls)."""
    if not calls:
        return None
    return json.dumps(
        [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def tool_calls_of(text: str | None) -> tuple[ToolCall, ...]:
    if not text:
        return ()
    return tuple(
        ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in json.loads(text)
    )


def title_from(text: str) -> str:
    """A first title from a user's message: its first line, cut at a word boundary."""
    line = " ".join(text.split())
    if len(line) <= TITLE_LENGTH:
        return line or "New chat"
    return line[:TITLE_LENGTH].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    conversation_id: str
    parent_id: str | None
    role: str
    content: str
    status: str
    model: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime
    rating: int | None = None  # 1 thumbs up, -1 thumbs down
    feedback_comment: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    redactions: Redactions | None = None  # what was hidden from the provider that answered
    sources: tuple[Source, ...] = ()  # the passages it was given, by citation number
    hidden: str | None = None  # why it is never shown nor sent (imported messages only)
    reasoning: Reasoning | None = None  # what the model thought first (shown collapsed)
    external_id: str | None = None  # imported messages: the node's id in the export

    def as_message(self) -> Message:
        """The message as a model sees it again."""
        return Message(cast(Role, self.role), self.content, self.tool_calls, self.tool_call_id)

    @classmethod
    def of(cls, row: MessageRow) -> StoredMessage:
        return cls(
            id=row.id,
            conversation_id=row.conversation_id,
            parent_id=row.parent_id,
            role=row.role,
            content=row.content,
            status=row.status,
            model=row.model,
            finish_reason=row.finish_reason,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            created_at=row.created_at,
            rating=row.rating,
            feedback_comment=row.feedback_comment,
            tool_calls=tool_calls_of(row.tool_calls),
            tool_call_id=row.tool_call_id,
            redactions=Redactions.of_json(row.redactions),
            sources=Source.list_of_json(row.sources),
            hidden=row.hidden,
            reasoning=Reasoning.of_json(row.reasoning),
            external_id=row.external_id,
        )


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: str
    title: str
    source: str
    model: str
    current_leaf_id: str | None
    created_at: datetime
    updated_at: datetime
    pinned: bool = False
    archived: bool = False
    project_id: str | None = None

    @classmethod
    def of(cls, row: ConversationRow) -> ConversationSummary:
        return cls(
            id=row.id,
            title=row.title,
            source=row.source,
            model=row.model,
            current_leaf_id=row.current_leaf_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            pinned=bool(row.pinned),
            archived=bool(row.archived),
            project_id=row.project_id,
        )


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message about to be stored (``append`` fills in ids, hash and time)."""

    role: str
    content: str
    status: str = "complete"
    model: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    redactions: Redactions | None = None
    sources: tuple[Source, ...] = ()

    @classmethod
    def of(cls, message: Message) -> MessageDraft:
        return cls(
            message.role,
            message.content,
            tool_calls=message.tool_calls,
            tool_call_id=message.tool_call_id,
        )


def owned(session: Session, conversation_id: str, owner: str) -> ConversationRow:
    """The conversation if ``owner`` owns it; someone else's is as absent as a missing one."""
    row = session.get(ConversationRow, conversation_id)
    if row is None or row.owner_id != owner:
        raise NotFoundError(f"conversation {conversation_id} not found")
    return row


class ConversationStore:
    """Intention-revealing operations on one owner's conversations; every call is one
    transaction. Another owner's conversation is reported as not found."""

    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def create(
        self,
        *,
        title: str = "New chat",
        source: str = "web",
        model: str = "",
        project_id: str | None = None,
    ) -> str:
        """A new conversation (in ``project_id``, one of the owner's projects, when given)."""
        conversation_id = str(uuid.uuid4())
        now = utcnow()
        with self._db.session() as session:
            if project_id is not None:
                project = session.get(ProjectRow, project_id)
                if project is None or project.owner_id != self.owner:
                    raise NotFoundError(f"project {project_id} not found")
            session.add(
                ConversationRow(
                    id=conversation_id,
                    owner_id=self.owner,
                    title=title[:200],
                    source=source,
                    model=model,
                    created_at=now,
                    updated_at=now,
                    project_id=project_id,
                )
            )
        return conversation_id

    def get(self, conversation_id: str) -> ConversationSummary:
        with self._db.session() as session:
            row = owned(session, conversation_id, self.owner)
            return ConversationSummary.of(row)

    def list_recent(self, limit: int = 50, offset: int = 0) -> list[ConversationSummary]:
        query = (
            select(ConversationRow)
            .where(ConversationRow.owner_id == self.owner)
            .order_by(ConversationRow.updated_at.desc(), ConversationRow.id)
            .limit(limit)
            .offset(offset)
        )
        with self._db.session() as session:
            return [ConversationSummary.of(row) for row in session.scalars(query)]

    def count_messages(self, conversation_id: str | None = None) -> int:
        query = (
            select(func.count())
            .select_from(MessageRow)
            .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
            .where(ConversationRow.owner_id == self.owner)
        )
        if conversation_id is not None:
            query = query.where(MessageRow.conversation_id == conversation_id)
        with self._db.session() as session:
            return int(session.scalar(query) or 0)

    def rename(self, conversation_id: str, title: str) -> None:
        with self._db.session() as session:
            row = owned(session, conversation_id, self.owner)
            row.title = title[:200]

    def delete(self, conversation_id: str) -> None:
        """The conversation and all it holds (``erasure.erase_conversations``), for real."""
        with self._db.session() as session:
            erase_conversations(session, [owned(session, conversation_id, self.owner).id])
        self._db.flush_erased()

    def append(
        self, conversation_id: str, parent_id: str | None, drafts: Sequence[MessageDraft]
    ) -> list[StoredMessage]:
        """Store a chain of messages under ``parent_id`` and make the last one the current leaf."""
        stored: list[StoredMessage] = []
        with self._db.session() as session:
            conversation = owned(session, conversation_id, self.owner)
            parent_hash = ""
            if parent_id is not None:
                parent = session.get(MessageRow, parent_id)
                if parent is None or parent.conversation_id != conversation_id:
                    raise NotFoundError(f"message {parent_id} not found")
                parent_hash = parent.chain_hash
            now = utcnow()
            for draft in drafts:
                row = MessageRow(
                    id=str(uuid.uuid4()),
                    conversation_id=conversation_id,
                    parent_id=parent_id,
                    role=draft.role,
                    content=draft.content,
                    chain_hash=chain_hash(
                        parent_hash,
                        draft.role,
                        draft.content,
                        draft.tool_calls,
                        draft.tool_call_id,
                    ),
                    status=draft.status,
                    model=draft.model,
                    finish_reason=draft.finish_reason,
                    prompt_tokens=draft.prompt_tokens,
                    completion_tokens=draft.completion_tokens,
                    created_at=now,
                    tool_calls=tool_calls_json(draft.tool_calls),
                    tool_call_id=draft.tool_call_id,
                    redactions=draft.redactions.as_json() if draft.redactions else None,
                    sources=Source.list_as_json(draft.sources),
                )
                session.add(row)
                session.flush()
                stored.append(StoredMessage.of(row))
                parent_id, parent_hash = row.id, row.chain_hash
            conversation.current_leaf_id = parent_id
            conversation.updated_at = now
        return stored

    def branch(self, conversation_id: str, leaf_id: str | None = None) -> list[StoredMessage]:
        """Messages from the root to ``leaf_id`` (default: the conversation's current leaf),
        without the hidden ones (an imported system prompt, say): what a model is sent."""
        with self._db.session() as session:
            conversation = owned(session, conversation_id, self.owner)
            rows = session.scalars(
                select(MessageRow).where(MessageRow.conversation_id == conversation_id)
            ).all()
            by_id = {row.id: row for row in rows}
            cursor = leaf_id or conversation.current_leaf_id
            if cursor is not None and cursor not in by_id:
                raise NotFoundError(f"message {cursor} not found")
            path: list[StoredMessage] = []
            while cursor is not None:
                row = by_id[cursor]
                if row.hidden is None:
                    path.append(StoredMessage.of(row))
                cursor = row.parent_id
            path.reverse()
            return path

    def attach_history(
        self, history: Sequence[Message], *, model: str, source: str = API_SOURCE
    ) -> tuple[str, str]:
        """Map a resent history onto stored rows, store only what is new.

        Returns ``(conversation id, id of the history's last message)``.

        A history continues a stored conversation when a stored message has the same chain hash
        and the shared part includes an assistant reply; otherwise it starts a new conversation
        (two API clients that merely share a system prompt do not end up in one tree).
        """
        hashes: list[str] = []
        parent_hash = ""
        for message in history:
            parent_hash = chain_hash(
                parent_hash, message.role, message.content, message.tool_calls, message.tool_call_id
            )
            hashes.append(parent_hash)
        first_reply = next((i for i, m in enumerate(history) if m.role == "assistant"), None)
        found = None if first_reply is None else self._longest_stored_prefix(hashes, first_reply)
        if found is not None:
            index, conversation_id, leaf_id = found
            rest = history[index + 1 :]
            if not rest:
                return conversation_id, leaf_id
            drafts = [MessageDraft.of(m) for m in rest]
            return conversation_id, self.append(conversation_id, leaf_id, drafts)[-1].id
        first_user = next((m.content for m in history if m.role == "user"), "")
        conversation_id = self.create(title=title_from(first_user), source=source, model=model)
        drafts = [MessageDraft.of(m) for m in history]
        return conversation_id, self.append(conversation_id, None, drafts)[-1].id

    def _longest_stored_prefix(
        self, hashes: Sequence[str], first_reply: int
    ) -> tuple[int, str, str] | None:
        """``(index, conversation id, message id)`` of the longest stored prefix of a history
        among those that include its first assistant reply (``hashes[first_reply:]``), the
        newest copy, or None.

        Two indexed queries whatever the history: which prefixes are stored (distinct hashes),
        then the newest copy of the longest one, so that many conversations starting alike (a
        fixed system prompt, few-shot examples) do not each cost a row."""

        def owned_rows(*columns: Any) -> Select[Any]:
            return (
                select(*columns)
                .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
                .where(ConversationRow.owner_id == self.owner)
            )

        with self._db.session() as session:
            candidates = hashes[first_reply:]
            query = owned_rows(MessageRow.chain_hash).where(MessageRow.chain_hash.in_(candidates))
            stored = set(session.scalars(query.distinct()))
            index = next(
                (i for i in reversed(range(first_reply, len(hashes))) if hashes[i] in stored), None
            )
            if index is None:
                return None
            match = session.scalars(
                owned_rows(MessageRow)
                .where(MessageRow.chain_hash == hashes[index])
                .order_by(MessageRow.created_at.desc())
                .limit(1)
            ).first()
            if match is None:  # deleted between the two reads: start afresh
                return None
            return index, match.conversation_id, match.id
