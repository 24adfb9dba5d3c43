"""Imported conversations written idempotently: a conversation is found again by (owner,
source, its id in the export), a message by its node id within that conversation.

``write`` stores a batch of conversations in one transaction. A conversation met for the first
time is created whole; one imported before gets only the nodes it lacks, each under the parent
the export gives it (so a new reply lands on its branch), and the title, flags and selected
leaf the export changed since the last import (what it said then is kept in ``seen``, so a
title renamed here is not overwritten by an export that did not rename it). Everything a write
did is recorded in an ``ImportJournal``, which ``undo`` takes back: an import that fails half
way leaves the database as it was.

Imported messages are ordinary messages (ids of Causerie's own, parents, chain hashes, the
conversation's current leaf, the search index's triggers), plus the source's node id, a
``hidden`` reason for nodes never shown, ``reasoning`` kept apart from the text, and
attachments (``message_attachments``: bytes, or why they are missing).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from causerie.storage.conversations import chain_hash, tool_calls_json
from causerie.storage.db import Database
from causerie.storage.listing import as_utc
from causerie.storage.tables import (
    AttachmentRow,
    ConversationImportRow,
    ConversationRow,
    MessageRow,
    utcnow,
)
from causerie.types import Reasoning, ToolCall

__all__ = [
    "IMPORT_SOURCE",
    "AttachmentDraft",
    "ConversationDraft",
    "ImportJournal",
    "ImportOrigin",
    "ImportStore",
    "MissingAttachment",
    "NodeDraft",
    "Written",
]

IMPORT_SOURCE = "import"  # conversations.source of an imported conversation
TITLE_MAX = MODEL_MAX = ID_MAX = 200
NAME_MAX = 255
_CHUNK = 500  # ids per IN (...) list
_FILES_AT_ONCE = 20  # attachments read and inserted together: bytes of a few files in memory

T = TypeVar("T")


class MissingAttachment(Exception):
    """Raised by an attachment's ``read``: its bytes cannot be had; ``reason`` says why
    (``too_large``, ``unreadable``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AttachmentDraft:
    """A file an imported message carried; ``read`` gives its bytes (None: not in the export).
    It is called only when the message is new, so a re-import reads no file again."""

    name: str
    mime_type: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    read: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class NodeDraft:
    """One node of an imported tree; ``external_id`` unique within its conversation."""

    external_id: str
    parent_external_id: str | None
    role: str
    content: str
    created_at: datetime
    model: str | None = None
    status: str = "complete"
    hidden: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    reasoning: Reasoning | None = None
    attachments: tuple[AttachmentDraft, ...] = ()


@dataclass(frozen=True, slots=True)
class ConversationDraft:
    """A whole imported conversation, nodes parents first; ``leaf_external_id`` the selected
    leaf; ``custom_instructions`` kept with the conversation (never a message)."""

    source: str
    external_id: str
    title: str
    created_at: datetime
    updated_at: datetime
    nodes: tuple[NodeDraft, ...]
    leaf_external_id: str | None
    model: str = ""
    archived: bool = False
    pinned: bool = False
    custom_instructions: Mapping[str, str] | None = None

    def seen(self) -> dict[str, Any]:
        """What the source says of the conversation as a whole, to tell later changes."""
        return {
            "title": self.title[:TITLE_MAX],
            "archived": self.archived,
            "pinned": self.pinned,
            "leaf": self.leaf_external_id,
        }


@dataclass(frozen=True, slots=True)
class Written:
    """What writing one conversation did: ``created`` it, or ``changed`` one imported before
    (new messages, or a title, flag or selected leaf the export changed); counts of new
    messages shown, new hidden ones, attachments stored and missing."""

    conversation_id: str
    created: bool
    changed: bool
    messages: int = 0
    hidden: int = 0
    attachments_stored: int = 0
    attachments_missing: int = 0


@dataclass(frozen=True, slots=True)
class ImportOrigin:
    """Where an imported conversation came from, and the custom instructions it held."""

    source: str
    external_id: str
    imported_at: datetime
    custom_instructions: dict[str, str] | None


@dataclass(slots=True)
class ImportJournal:
    """What an import wrote, for ``undo``: conversations it created, messages it added to
    conversations that were there before, and those conversations' fields as they were."""

    created: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    before: dict[str, dict[str, Any]] = field(default_factory=dict)


class ImportStore:
    """Writes one owner's imported conversations; another owner's are never found."""

    def __init__(self, db: Database, owner: str) -> None:
        self._db = db
        self.owner = owner

    def write(self, drafts: Sequence[ConversationDraft], journal: ImportJournal) -> list[Written]:
        """Store ``drafts`` in one transaction; once it is committed, what was done goes into
        ``journal``."""
        done = ImportJournal()
        with self._db.session() as session:
            known = self._imported(session, drafts)
            written = [
                self._update(session, known[(d.source, _key(d.external_id))], d, done)
                if (d.source, _key(d.external_id)) in known
                else self._create(session, d, done)
                for d in drafts
            ]
        journal.created += done.created
        journal.added += done.added
        for conversation_id, fields in done.before.items():
            journal.before.setdefault(conversation_id, fields)
        return written

    def origin(self, conversation_id: str) -> ImportOrigin | None:
        """Where the owner's conversation was imported from; None when it was not."""
        query = select(ConversationImportRow).where(
            ConversationImportRow.conversation_id == conversation_id,
            ConversationImportRow.owner_id == self.owner,
        )
        with self._db.session() as session:
            row = session.scalars(query).first()
            if row is None:
                return None
            instructions = json.loads(row.custom_instructions or "null")
            return ImportOrigin(row.source, row.external_id, row.imported_at, instructions)

    def undo(self, journal: ImportJournal) -> None:
        """Take back everything ``journal`` records, in one transaction."""
        with self._db.session() as session:
            for ids in _chunks(journal.added):
                session.execute(delete(MessageRow).where(MessageRow.id.in_(ids)))
            for ids in _chunks(journal.created):
                session.execute(delete(MessageRow).where(MessageRow.conversation_id.in_(ids)))
                session.execute(delete(ConversationRow).where(ConversationRow.id.in_(ids)))
            for conversation_id, fields in journal.before.items():
                conversation = session.get(ConversationRow, conversation_id)
                imported = session.get(ConversationImportRow, conversation_id)
                if conversation is None or imported is None:
                    continue
                for name, value in fields.items():
                    setattr(imported if name in _IMPORT_FIELDS else conversation, name, value)

    def _imported(
        self, session: Session, drafts: Sequence[ConversationDraft]
    ) -> dict[tuple[str, str], ConversationImportRow]:
        found: dict[tuple[str, str], ConversationImportRow] = {}
        for source in {d.source for d in drafts}:
            ids = [_key(d.external_id) for d in drafts if d.source == source]
            for chunk in _chunks(ids):
                query = select(ConversationImportRow).where(
                    ConversationImportRow.owner_id == self.owner,
                    ConversationImportRow.source == source,
                    ConversationImportRow.external_id.in_(chunk),
                )
                found.update(((row.source, row.external_id), row) for row in session.scalars(query))
        return found

    def _create(
        self, session: Session, draft: ConversationDraft, journal: ImportJournal
    ) -> Written:
        conversation = ConversationRow(
            id=str(uuid.uuid4()),
            owner_id=self.owner,
            title=draft.title[:TITLE_MAX],
            source=IMPORT_SOURCE,
            model=draft.model[:MODEL_MAX],
            created_at=draft.created_at,
            updated_at=draft.updated_at,
            pinned=draft.pinned,
            archived=draft.archived,
        )
        session.add(conversation)
        session.flush()  # before the rows that refer to it: no relationship orders them
        session.add(
            ConversationImportRow(
                conversation_id=conversation.id,
                owner_id=self.owner,
                source=draft.source,
                external_id=_key(draft.external_id),
                custom_instructions=_instructions_json(draft.custom_instructions),
                seen=json.dumps(draft.seen(), ensure_ascii=False),
                imported_at=utcnow(),
            )
        )
        session.flush()
        journal.created.append(conversation.id)
        ids: dict[str, tuple[str, str]] = {}
        counts, _ = _insert_nodes(session, conversation.id, draft.nodes, ids)
        conversation.current_leaf_id = _leaf(ids, draft)
        return Written(conversation.id, True, True, *counts)

    def _update(
        self,
        session: Session,
        imported: ConversationImportRow,
        draft: ConversationDraft,
        journal: ImportJournal,
    ) -> Written:
        conversation = session.get_one(ConversationRow, imported.conversation_id)
        before = _fields(conversation, imported)
        query = select(MessageRow.external_id, MessageRow.id, MessageRow.chain_hash).where(
            MessageRow.conversation_id == conversation.id, MessageRow.external_id.is_not(None)
        )
        ids = {row.external_id: (row.id, row.chain_hash) for row in session.execute(query)}
        new = tuple(node for node in draft.nodes if _key(node.external_id) not in ids)
        counts, added = _insert_nodes(session, conversation.id, new, ids)
        journal.added.extend(added)
        seen = json.loads(imported.seen)
        now_seen = draft.seen()
        changed = bool(new)
        for name in ("title", "archived", "pinned"):
            if now_seen[name] != seen.get(name):
                setattr(conversation, name, now_seen[name])
                changed = True
        if now_seen["leaf"] != seen.get("leaf") or conversation.current_leaf_id is None:
            conversation.current_leaf_id = _leaf(ids, draft) or conversation.current_leaf_id
            changed = True
        instructions = _instructions_json(draft.custom_instructions)
        if instructions != imported.custom_instructions:
            imported.custom_instructions = instructions
            changed = True
        if changed:
            if as_utc(draft.updated_at) > as_utc(conversation.updated_at):
                conversation.updated_at = draft.updated_at
            imported.seen = json.dumps(now_seen, ensure_ascii=False)
            journal.before.setdefault(conversation.id, before)
        return Written(conversation.id, False, changed, *counts)


def _insert_nodes(
    session: Session,
    conversation_id: str,
    nodes: Sequence[NodeDraft],
    ids: dict[str, tuple[str, str]],
) -> tuple[tuple[int, int, int, int], list[str]]:
    """Insert ``nodes`` (parents first) under the messages ``ids`` maps already (source node
    id to message id and chain hash); ``ids`` gains theirs. Returns the counts (shown, hidden,
    attachments stored, attachments missing) and the new messages' ids."""
    rows: list[dict[str, Any]] = []
    files: list[tuple[str, int, AttachmentDraft]] = []
    shown = hidden = 0
    for node in nodes:
        parent_id, parent_hash = ids.get(_key(node.parent_external_id or ""), (None, ""))
        message_id = str(uuid.uuid4())
        digest = chain_hash(
            parent_hash, node.role, node.content, node.tool_calls, node.tool_call_id
        )
        ids[_key(node.external_id)] = (message_id, digest)
        rows.append(
            {
                "id": message_id,
                "conversation_id": conversation_id,
                "parent_id": parent_id,
                "role": node.role,
                "content": node.content,
                "chain_hash": digest,
                "status": node.status,
                "model": node.model[:MODEL_MAX] if node.model else None,
                "created_at": node.created_at,
                "tool_calls": tool_calls_json(node.tool_calls),
                "tool_call_id": node.tool_call_id,
                "external_id": _key(node.external_id),
                "hidden": node.hidden,
                "reasoning": node.reasoning.as_json() if node.reasoning else None,
            }
        )
        hidden += node.hidden is not None
        shown += node.hidden is None
        files += ((message_id, position, file) for position, file in enumerate(node.attachments))
    if rows:
        session.execute(insert(MessageRow), rows)
    stored = 0
    for chunk in _chunks(files, _FILES_AT_ONCE):
        attachments = [_attachment(*file) for file in chunk]
        stored += sum(1 for row in attachments if row["data"] is not None)
        session.execute(insert(AttachmentRow), attachments)
    return (shown, hidden, stored, len(files) - stored), [row["id"] for row in rows]


def _attachment(message_id: str, position: int, draft: AttachmentDraft) -> dict[str, Any]:
    data: bytes | None = None
    missing: str | None = "not_in_export"
    if draft.read is not None:
        try:
            data, missing = draft.read(), None
        except MissingAttachment as exc:
            missing = exc.reason
    return {
        "id": str(uuid.uuid4()),
        "message_id": message_id,
        "position": position,
        "name": draft.name[:NAME_MAX],
        "mime_type": draft.mime_type[:NAME_MAX] if draft.mime_type else None,
        "size": len(data) if data is not None else draft.size,
        "width": draft.width,
        "height": draft.height,
        "data": data,
        "missing": missing,
    }


def _leaf(ids: Mapping[str, tuple[str, str]], draft: ConversationDraft) -> str | None:
    found = ids.get(_key(draft.leaf_external_id or ""))
    return found[0] if found else None


_IMPORT_FIELDS = ("seen", "custom_instructions")


def _fields(conversation: ConversationRow, imported: ConversationImportRow) -> dict[str, Any]:
    return {
        "title": conversation.title,
        "archived": conversation.archived,
        "pinned": conversation.pinned,
        "current_leaf_id": conversation.current_leaf_id,
        "updated_at": conversation.updated_at,
        "seen": imported.seen,
        "custom_instructions": imported.custom_instructions,
    }


def _key(external_id: str) -> str:
    """An external id as stored (the readers already hash longer ones)."""
    return external_id[:ID_MAX]


def _instructions_json(instructions: Mapping[str, str] | None) -> str | None:
    if not instructions:
        return None
    return json.dumps(dict(instructions), ensure_ascii=False, sort_keys=True)


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
