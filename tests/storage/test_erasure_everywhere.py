"""Erasure that is real, on SQLite and Postgres: deleting an account (or a conversation) leaves
no row that holds its id, its username or a word of its content, in any table the ORM knows
(``Base.metadata``: a future table is covered without touching this test), beyond what
docs/accounts.md says stays. On SQLite the words are not in the file's bytes either: not in a
table, not in a full-text index, not in the write-ahead log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from causerie.auth.accounts import Accounts
from causerie.errors import InvalidRequestError
from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.contents import DocumentContents
from causerie.storage.documents import DocumentStore
from causerie.storage.import_jobs import ImportJobStore
from causerie.storage.preferences import CUSTOM_INSTRUCTIONS, Preferences
from causerie.storage.projects import ProjectStore
from causerie.storage.shares import ShareStore
from causerie.storage.stored_responses import ResponseStore
from causerie.storage.tables import (
    AttachmentRow,
    Base,
    ConversationImportRow,
    LeaseRow,
    RateWindowRow,
    utcnow,
)
from causerie.storage.usage import UsageLedger
from causerie.types import Passage

# What stays of an erased account, as docs/accounts.md says: usage counters (numbers, under the
# account's id) and audit events (actor, action, target: the username; never content).
STAYS = {"usage", "audit_events"}
PASSWORD = "password-123"


@dataclass
class Owner:
    id: str
    username: str
    canary: str  # one word, in everything they stored
    conversation: str
    uploads: list[str]  # the sha256 of their uploads' bytes

    @property
    def needles(self) -> list[str]:
        return [self.id, self.username, self.canary, *self.uploads]


def new_canary() -> str:
    return f"zqxv{uuid.uuid4().hex}"  # one lowercase word: one term of the full-text indexes


def fill(database: Database, accounts: Accounts, *, admin: bool = False) -> Owner:
    """A user with something of theirs in every table that can hold it."""
    canary = new_canary()
    account = accounts.create_user(
        "cli", f"erased-{uuid.uuid4().hex[:8]}", PASSWORD, role="admin" if admin else "user"
    )
    owner = account.id
    store = ConversationStore(database, owner)
    chat = store.create(title=f"Plans {canary}")
    stored = store.append(
        chat,
        None,
        [MessageDraft("user", f"my secret is {canary}"), MessageDraft("assistant", canary)],
    )
    ShareStore(database, owner).create(chat)
    ResponseStore(database, owner).save(f"resp_{canary}", chat, stored[-1].id, {"t": canary})
    Preferences(database, owner).set(CUSTOM_INSTRUCTIONS, f"call me {canary}")
    project = ProjectStore(database, owner).create(f"Project {canary}", canary)
    in_project = store.create(title=f"In project {canary}", project_id=project.id)
    store.append(in_project, None, [MessageDraft("user", f"project talk {canary}")])
    documents = DocumentStore(database, owner)
    attached = documents.add(
        f"{canary}.txt", "text", f"notes {canary}".encode(), conversation_id=chat
    )
    loose = documents.add(
        "loose.txt", "text", f"loose {canary} text".encode(), project_id=project.id
    )
    contents = DocumentContents(database)
    for upload in (attached, loose):
        body = f"passage about {canary}"
        contents.save_passages(upload.sha256, 1, [Passage(0, 1, 0, len(body), body)])
        with database.session() as session:
            passage_id = session.scalar(
                text("SELECT id FROM passages WHERE blob_sha = :s"), {"s": upload.sha256}
            )
        contents.save_vectors(upload.sha256, "test-model", [(int(passage_id), [0.5, 0.25, 0.125])])
    ImportJobStore(database, owner).create(f"export-{canary}.zip")
    accounts.credentials.start_session(owner)
    accounts.credentials.create_key(owner, f"key {canary}")
    accounts.credentials.create_invite(owner)
    UsageLedger(database).record(
        owner, "", "model", prompt_tokens=3, cached_tokens=0, completion_tokens=2
    )
    with database.session() as session:
        session.add(
            AttachmentRow(
                id=str(uuid.uuid4()),
                message_id=stored[0].id,
                position=0,
                name=f"{canary}.png",
                data=canary.encode(),
            )
        )
        session.add(
            ConversationImportRow(
                conversation_id=chat,
                owner_id=owner,
                source="chatgpt",
                external_id=canary,
                custom_instructions=canary,
                seen=canary,
            )
        )
        session.add(RateWindowRow(user_id=owner, minute=1, requests=1))
        session.add(
            LeaseRow(
                id=str(uuid.uuid4()), user_id=owner, expires_at=utcnow() + timedelta(minutes=1)
            )
        )
    accounts.audit.record("cli", "test.marker", account.username)
    return Owner(owner, account.username, canary, chat, [attached.sha256, loose.sha256])


def remnants(database: Database, needles: list[str], *, skip: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """``table.column`` of every value, in every table of the ORM, that holds a needle."""
    found = []
    with database.session() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            for row in session.execute(select(table)).mappings():
                for column, value in row.items():
                    shown = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    found += [f"{table.name}.{column}" for needle in needles if needle in shown]
    return sorted(set(found))


def file_bytes(database: Database) -> bytes:
    """The SQLite file and its write-ahead log, as they are on disk."""
    path = database.sqlite_path
    assert path is not None
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def fts_blocks(database: Database) -> bytes:
    """The full-text indexes' own storage (their shadow tables)."""
    with database.reading() as connection:
        return b"".join(
            bytes(block)
            for name in ("messages", "conversations", "passages")
            for (block,) in connection.execute(text(f"SELECT block FROM {name}_fts_data"))
            if block
        )


def test_deleting_an_account_leaves_nothing_of_it(database: Database) -> None:
    accounts = Accounts(database)
    accounts.create_user("cli", f"admin-{uuid.uuid4().hex[:6]}", PASSWORD, role="admin")
    gone, kept = fill(database, accounts), fill(database, accounts)
    every_table = {table.name for table in Base.metadata.sorted_tables}
    held = {name.split(".")[0] for name in remnants(database, gone.needles)}
    assert held == every_table - {"user_groups", "site_settings"}  # the fill reached them all
    if database.is_sqlite:
        assert gone.canary.encode() in file_bytes(database)
        assert gone.canary.encode() in fts_blocks(database)

    kept_before = remnants(database, kept.needles)

    accounts.delete_user("cli", gone.id)

    assert remnants(database, gone.needles, skip=STAYS) == []
    assert remnants(database, [gone.canary]) == []  # what stays holds no content
    assert accounts.audit.recent(1)[0].action == "user.delete"
    assert remnants(database, kept.needles) == kept_before  # the other user's things stay
    if database.is_sqlite:
        assert gone.canary.encode() not in fts_blocks(database)
        assert gone.canary.encode() not in file_bytes(database)
        assert kept.canary.encode() in file_bytes(database)


def test_deleting_a_conversation_erases_its_words_from_the_file(database: Database) -> None:
    accounts = Accounts(database)
    owner = fill(database, accounts)
    store = ConversationStore(database, owner.id)
    other = store.create(title="Kept")
    store.append(other, None, [MessageDraft("user", "nothing secret")])

    store.delete(owner.conversation)

    assert remnants(database, [owner.conversation]) == []
    assert (
        remnants(database, ["my secret is", f"Plans {owner.canary}", f"notes {owner.canary}"]) == []
    )
    if database.is_sqlite:
        raw = file_bytes(database)
        for gone in (
            f"my secret is {owner.canary}",
            f"Plans {owner.canary}",
            f"{owner.canary}.png",
        ):
            assert gone.encode() not in raw
        assert f"project talk {owner.canary}".encode() in raw  # its other chat stays


def test_the_last_active_admin_cannot_be_deleted(database: Database) -> None:
    accounts = Accounts(database)
    only = accounts.create_user("cli", f"root-{uuid.uuid4().hex[:6]}", PASSWORD, role="admin")
    with pytest.raises(InvalidRequestError):
        accounts.delete_user("cli", only.id)
    second = accounts.create_user("cli", f"two-{uuid.uuid4().hex[:6]}", PASSWORD, role="admin")
    accounts.delete_user(only.username, only.id)
    assert [a.username for a in accounts.users.all()] == [second.username]


def test_deleting_ones_own_account_asks_for_the_password(database: Database) -> None:
    accounts = Accounts(database)
    accounts.create_user("cli", f"root-{uuid.uuid4().hex[:6]}", PASSWORD, role="admin")
    owner = fill(database, accounts)
    account = accounts.users.get(owner.id)
    with pytest.raises(InvalidRequestError):
        accounts.delete_own_account(account, "wrong-password")
    accounts.delete_own_account(account, PASSWORD)
    assert remnants(database, [owner.id, owner.canary], skip=STAYS) == []
    event = accounts.audit.recent(1)[0]
    assert (event.actor, event.action, event.target) == (
        owner.username,
        "user.delete",
        owner.username,
    )
    assert owner.canary not in event.detail
