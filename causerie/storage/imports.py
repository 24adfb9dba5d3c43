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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from causerie.storage.account_data import AccountChanges, AccountData
from causerie.storage.db import Database
from causerie.storage.import_fields import IMPORT_FIELDS, fields_of, follow, leaf_of
from causerie.storage.import_rows import (
    AttachmentDraft,
    MissingAttachment,
    NodeDraft,
    chunks,
    insert_nodes,
    key,
)
from causerie.storage.listing import as_utc
from causerie.storage.tables import (
    ConversationImportRow,
    ConversationRow,
    MessageRow,
    ShareRow,
    utcnow,
)
from causerie.types import Project

__all__ = [
    "IMPORT_SOURCE",
    "AttachmentDraft",
    "ConversationDraft",
    "ImportJournal",
    "ImportOrigin",
    "ImportStore",
    "MissingAttachment",
    "NodeDraft",
    "OriginDraft",
    "ShareDraft",
    "Written",
]

IMPORT_SOURCE = "import"  # conversations.source of an imported conversation
TITLE_MAX = MODEL_MAX = 200


@dataclass(frozen=True, slots=True)
class ShareDraft:
    """A share link restored with its conversation (only when no row holds its token)."""

    token: str
    title: str
    snapshot: str  # JSON, as ``shares.snapshot``
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OriginDraft:
    """Where a restored conversation had been imported from, recorded again as it was."""

    source: str
    external_id: str
    seen: str  # JSON, as ``conversation_imports.seen``
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class ConversationDraft:
    """A whole imported conversation, nodes parents first; ``leaf_external_id`` the selected
    leaf; ``custom_instructions`` kept with the conversation (never a message).

    A Causerie archive's conversation also gives ``id``, the id to keep (with its messages'
    and attachments') when no conversation holds it, and what it was in Causerie: ``via``
    (web, api...), settings, project, share links, and ``origin``, where it had been imported
    from. When its ids are kept, ``origin`` is recorded as it was (so that importing the first
    export again finds it); when they cannot be, it is a copy known by its archive id."""

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
    id: str | None = None
    via: str = IMPORT_SOURCE
    settings: str | None = None  # JSON, as ``conversations.settings``
    project_id: str | None = None
    shares: tuple[ShareDraft, ...] = ()
    origin: OriginDraft | None = None

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
    messages shown, new hidden ones, attachments stored and missing; the share links not
    restored because another conversation holds their token."""

    conversation_id: str
    created: bool
    changed: bool
    messages: int = 0
    hidden: int = 0
    attachments_stored: int = 0
    attachments_missing: int = 0
    shares_taken: int = 0


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
    conversations that were there before, and those conversations' fields as they were; a
    Causerie archive's preferences and projects (``account``)."""

    created: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    before: dict[str, dict[str, Any]] = field(default_factory=dict)
    account: AccountChanges = field(default_factory=AccountChanges)


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
            written: list[Written] = []
            for draft in drafts:
                found = known.get((draft.source, key(draft.external_id)))
                if found is not None:
                    written.append(self._update(session, found, draft, done))
                elif (own := self._own(session, draft.id)) is not None:
                    written.append(self._update_own(session, own, draft, done))
                else:
                    written.append(self._create(session, draft, done))
        journal.created += done.created
        journal.added += done.added
        for conversation_id, fields in done.before.items():
            journal.before.setdefault(conversation_id, fields)
        return written

    def restore_account(
        self,
        preferences: Mapping[str, str],
        projects: Sequence[Project],
        journal: ImportJournal,
    ) -> tuple[list[str], dict[str, str]]:
        """A Causerie archive's account-wide parts (``AccountData.restore_preferences`` and
        ``restore_projects``), recorded in ``journal``: the preferences left as the owner had
        them, and the project ids archive -> owner's."""
        data = AccountData(self._db, self.owner)
        data.restore_preferences(preferences, journal.account)
        return journal.account.kept, data.restore_projects(projects, journal.account)

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
            for ids in chunks(journal.added):
                session.execute(delete(MessageRow).where(MessageRow.id.in_(ids)))
            for ids in chunks(journal.created):
                session.execute(delete(MessageRow).where(MessageRow.conversation_id.in_(ids)))
                session.execute(delete(ConversationRow).where(ConversationRow.id.in_(ids)))
            for conversation_id, fields in journal.before.items():
                conversation = session.get(ConversationRow, conversation_id)
                imported = session.get(ConversationImportRow, conversation_id)
                for name, value in fields.items():
                    row = imported if name in IMPORT_FIELDS else conversation
                    if row is not None:
                        setattr(row, name, value)
        AccountData(self._db, self.owner).undo(journal.account)

    def _imported(
        self, session: Session, drafts: Sequence[ConversationDraft]
    ) -> dict[tuple[str, str], ConversationImportRow]:
        found: dict[tuple[str, str], ConversationImportRow] = {}
        for source in {d.source for d in drafts}:
            ids = [key(d.external_id) for d in drafts if d.source == source]
            for chunk in chunks(ids):
                query = select(ConversationImportRow).where(
                    ConversationImportRow.owner_id == self.owner,
                    ConversationImportRow.source == source,
                    ConversationImportRow.external_id.in_(chunk),
                )
                found.update(((row.source, row.external_id), row) for row in session.scalars(query))
        return found

    def _own(self, session: Session, conversation_id: str | None) -> ConversationRow | None:
        """The owner's conversation of that id (a Causerie archive imported again)."""
        if conversation_id is None:
            return None
        row = session.get(ConversationRow, conversation_id)
        return row if row is not None and row.owner_id == self.owner else None

    def _create(
        self, session: Session, draft: ConversationDraft, journal: ImportJournal
    ) -> Written:
        keep_ids = draft.id is not None and session.get(ConversationRow, draft.id) is None
        conversation = ConversationRow(
            id=draft.id if keep_ids and draft.id else str(uuid.uuid4()),
            owner_id=self.owner,
            title=draft.title[:TITLE_MAX],
            source=draft.via,
            model=draft.model[:MODEL_MAX],
            created_at=draft.created_at,
            updated_at=draft.updated_at,
            pinned=draft.pinned,
            archived=draft.archived,
            settings=draft.settings,
            project_id=draft.project_id,
            archive_seen=json.dumps(draft.seen(), ensure_ascii=False) if keep_ids else None,
        )
        session.add(conversation)
        session.flush()  # before the rows that refer to it: no relationship orders them
        origin = self._origin(session, draft, keep_ids)
        if origin is not None:
            session.add(
                ConversationImportRow(
                    conversation_id=conversation.id,
                    owner_id=self.owner,
                    source=origin.source,
                    external_id=key(origin.external_id),
                    custom_instructions=_instructions_json(draft.custom_instructions),
                    seen=origin.seen,
                    imported_at=origin.imported_at,
                )
            )
        taken = 0
        for share in draft.shares:
            if session.get(ShareRow, share.token) is None:
                session.add(ShareRow(conversation_id=conversation.id, **_share_fields(share)))
            else:
                taken += 1
        session.flush()
        journal.created.append(conversation.id)
        ids: dict[str, tuple[str, str]] = {}
        counts, _ = insert_nodes(session, conversation.id, draft.nodes, ids, keep_ids=keep_ids)
        conversation.current_leaf_id = leaf_of(ids, draft.leaf_external_id)
        return Written(conversation.id, True, True, *counts, shares_taken=taken)

    def _origin(
        self, session: Session, draft: ConversationDraft, keep_ids: bool
    ) -> OriginDraft | None:
        """The provenance to record: the export's; for a Causerie archive whose ids are kept,
        the one it had (none for a conversation made in Causerie, or when the owner has that
        one already); for one whose ids are not, the archive's."""
        if not keep_ids:
            seen = json.dumps(draft.seen(), ensure_ascii=False)
            return OriginDraft(draft.source, draft.external_id, seen, utcnow())
        if draft.origin is None:
            return None
        clash = session.scalars(
            select(ConversationImportRow.conversation_id).where(
                ConversationImportRow.owner_id == self.owner,
                ConversationImportRow.source == draft.origin.source,
                ConversationImportRow.external_id == key(draft.origin.external_id),
            )
        ).first()
        return draft.origin if clash is None else None

    def _update_own(
        self,
        session: Session,
        conversation: ConversationRow,
        draft: ConversationDraft,
        journal: ImportJournal,
    ) -> Written:
        """A Causerie archive's conversation the owner has under the same id: the messages it
        lacks are added, and the title, flags and leaf the archive changed since the one it was
        restored from (``archive_seen``; for one made here, none: this archive is noted)."""
        before = fields_of(conversation, None)
        query = select(MessageRow.id, MessageRow.chain_hash).where(
            MessageRow.conversation_id == conversation.id
        )
        ids = {row.id: (row.id, row.chain_hash) for row in session.execute(query)}
        new = tuple(node for node in draft.nodes if key(node.external_id) not in ids)
        counts, added = insert_nodes(session, conversation.id, new, ids, keep_ids=True)
        journal.added.extend(added)
        seen = json.loads(conversation.archive_seen) if conversation.archive_seen else None
        now_seen = draft.seen()
        changed = bool(new)
        if seen is not None:
            leaf = leaf_of(ids, draft.leaf_external_id)
            changed = follow(conversation, seen, now_seen, leaf) or changed
        if changed or seen != now_seen:
            if changed and as_utc(draft.updated_at) > as_utc(conversation.updated_at):
                conversation.updated_at = draft.updated_at
            conversation.archive_seen = json.dumps(now_seen, ensure_ascii=False)
            journal.before.setdefault(conversation.id, before)
        return Written(conversation.id, False, changed, *counts)

    def _update(
        self,
        session: Session,
        imported: ConversationImportRow,
        draft: ConversationDraft,
        journal: ImportJournal,
    ) -> Written:
        conversation = session.get_one(ConversationRow, imported.conversation_id)
        before = fields_of(conversation, imported)
        query = select(MessageRow.external_id, MessageRow.id, MessageRow.chain_hash).where(
            MessageRow.conversation_id == conversation.id, MessageRow.external_id.is_not(None)
        )
        ids = {row.external_id: (row.id, row.chain_hash) for row in session.execute(query)}
        new = tuple(node for node in draft.nodes if key(node.external_id) not in ids)
        counts, added = insert_nodes(session, conversation.id, new, ids)
        journal.added.extend(added)
        leaf = leaf_of(ids, draft.leaf_external_id)
        changed = follow(conversation, json.loads(imported.seen), draft.seen(), leaf) or bool(new)
        instructions = _instructions_json(draft.custom_instructions)
        if instructions != imported.custom_instructions:
            imported.custom_instructions = instructions
            changed = True
        if changed:
            if as_utc(draft.updated_at) > as_utc(conversation.updated_at):
                conversation.updated_at = draft.updated_at
            imported.seen = json.dumps(draft.seen(), ensure_ascii=False)
            journal.before.setdefault(conversation.id, before)
        return Written(conversation.id, False, changed, *counts)


def _share_fields(share: ShareDraft) -> dict[str, Any]:
    return {
        "token": share.token,
        "title": share.title[:TITLE_MAX],
        "snapshot": share.snapshot,
        "created_at": share.created_at,
        "revoked_at": share.revoked_at,
    }


def _instructions_json(instructions: Mapping[str, str] | None) -> str | None:
    if not instructions:
        return None
    return json.dumps(dict(instructions), ensure_ascii=False, sort_keys=True)
