"""ConversationStore on a real SQLite file and a real Postgres database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event

from causerie.errors import NotFoundError
from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.conversations import title_from
from causerie.storage.tables import MessageRow
from causerie.types import Message


@pytest.fixture
def store(database: Database) -> ConversationStore:
    return ConversationStore(database)


def test_tree_branches_and_current_leaf(store: ConversationStore) -> None:
    conversation = store.create(title="Tree")
    user, first = store.append(
        conversation, None, [MessageDraft("user", "Q"), MessageDraft("assistant", "A1")]
    )
    second = store.append(conversation, user.id, [MessageDraft("assistant", "A2")])[0]
    assert [m.content for m in store.branch(conversation)] == ["Q", "A2"]  # newest is current
    assert [m.content for m in store.branch(conversation, first.id)] == ["Q", "A1"]
    assert second.parent_id == first.parent_id == user.id
    assert store.count_messages(conversation) == 3
    assert store.get(conversation).current_leaf_id == second.id


def test_unknown_ids_raise_not_found(store: ConversationStore) -> None:
    with pytest.raises(NotFoundError):
        store.get("nope")
    with pytest.raises(NotFoundError):
        store.branch("nope")
    conversation = store.create()
    with pytest.raises(NotFoundError):
        store.append(conversation, "missing-parent", [MessageDraft("user", "x")])
    other = store.create()
    foreign = store.append(other, None, [MessageDraft("user", "y")])[0]
    with pytest.raises(NotFoundError):  # a parent from another conversation is refused
        store.append(conversation, foreign.id, [MessageDraft("user", "x")])


def test_attach_history_continues_only_after_a_reply(store: ConversationStore) -> None:
    history = [Message("system", "S"), Message("user", "U1")]
    conversation, leaf = store.attach_history(history, model="m")
    store.append(conversation, leaf, [MessageDraft("assistant", "A1")])
    # same opening, no shared reply: a new conversation
    again, _ = store.attach_history(history, model="m")
    assert again != conversation
    # resent with the reply: continues the first one, adds one row
    before = store.count_messages(conversation)
    same, new_leaf = store.attach_history(
        [*history, Message("assistant", "A1"), Message("user", "U2")], model="m"
    )
    assert same == conversation
    assert store.count_messages(conversation) == before + 1
    assert [m.content for m in store.branch(conversation, new_leaf)] == ["S", "U1", "A1", "U2"]
    # an edited earlier turn branches at the last shared reply
    edited, edited_leaf = store.attach_history(
        [*history, Message("assistant", "A1"), Message("user", "U2 edited")], model="m"
    )
    assert edited == conversation
    assert store.branch(conversation, edited_leaf)[-2].content == "A1"


def test_many_conversations_that_start_alike_cost_a_fixed_number_of_rows(
    store: ConversationStore,
) -> None:
    """Forty API conversations that open with the same system prompt and question (each its
    own conversation): mapping a resent history loads the one reply it continues, and a new
    first turn loads nothing, however many look-alikes are stored."""
    opening = [Message("system", "You are terse."), Message("user", "Hello?")]
    started = [store.attach_history(opening, model="m") for _ in range(40)]
    assert len({conversation for conversation, _ in started}) == 40
    conversation, leaf = started[-1]
    store.append(conversation, leaf, [MessageDraft("assistant", "Hi.")])
    loaded: list[str] = []

    def on_load(row: MessageRow, _context: object) -> None:
        loaded.append(row.id)

    event.listen(MessageRow, "load", on_load)
    try:
        resent = [*opening, Message("assistant", "Hi."), Message("user", "Bye?")]
        same, _ = store.attach_history(resent, model="m")
        assert same == conversation and len(set(loaded)) == 1  # the reply it continues
        loaded.clear()
        fresh, _ = store.attach_history(opening, model="m")
        assert fresh not in {c for c, _ in started} and not loaded
    finally:
        event.remove(MessageRow, "load", on_load)
    assert store.count_messages(conversation) == 4


def test_list_recent_orders_by_activity_and_delete(store: ConversationStore) -> None:
    old = store.create(title="old")
    new = store.create(title="new")
    store.append(old, None, [MessageDraft("user", "bump")])
    ids = [c.id for c in store.list_recent(limit=10)]
    assert ids.index(old) < ids.index(new)
    store.rename(new, "renamed")
    assert store.get(new).title == "renamed"
    store.delete(old)
    with pytest.raises(NotFoundError):
        store.get(old)
    assert store.count_messages(old) == 0


def test_unicode_round_trip(store: ConversationStore) -> None:
    conversation = store.create()
    text = "Zoë says 你好 🌍 — \u2028 tabs\tand \\ back"
    store.append(conversation, None, [MessageDraft("user", text)])
    assert store.branch(conversation)[0].content == text


def test_titles() -> None:
    assert title_from("  What is   the capital?\nof France ") == "What is the capital? of France"
    long = "word " * 40
    assert len(title_from(long)) <= 81 and title_from(long).endswith("…")
    assert title_from("") == "New chat"


def test_sqlite_is_wal_and_migration_backs_up_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    database = Database(f"sqlite:///{path}")
    assert database.migrate() is None  # a new file needs no backup
    with database.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"
    ConversationStore(database).create(title="keep me")
    database.dispose()
    # pretend the file predates the current schema: its next start backs it up first
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = 'older'")
        raw.execute("CREATE TABLE IF NOT EXISTS dummy (x)")
    older = Database(f"sqlite:///{path}")
    with pytest.raises(Exception, match="older"):  # an unknown revision is refused
        older.migrate()
    older.dispose()
    backups = list(tmp_path.glob("c.db.*.bak"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as copy:
        assert copy.execute("SELECT title FROM conversations").fetchone() == ("keep me",)


def test_the_orm_tables_are_what_the_migrations_made(database: Database) -> None:
    """The migrated schema and the ORM's agree: tables, columns, types, indexes (the keyword
    index's own FTS5 tables aside)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from causerie.storage.tables import Base

    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    fts = ("messages_fts", "conversations_fts", "passages_fts")
    left = [
        d
        for d in differences
        if not (d[0] == "remove_table" and d[1].name.startswith(fts))
        and not (d[0] == "remove_index" and d[1].name.endswith("_fts"))
        and not (database.is_sqlite and added_in_place(d))
    ]
    assert left == []
    if database.is_sqlite:  # what reflection cannot read there, SQLite itself says
        with database.engine.connect() as connection:
            for table in ("conversations", "files"):
                keys = connection.exec_driver_sql(f"PRAGMA foreign_key_list({table})").all()
                assert ("projects", "project_id", "id", "CASCADE") in [
                    (k[2], k[3], k[4], k[6]) for k in keys
                ]


def added_in_place(difference: tuple[object, ...]) -> bool:
    """A foreign key SQLite added with its column (``ALTER TABLE ... ADD COLUMN ...
    REFERENCES ... ON DELETE CASCADE``, migration 0009): SQLAlchemy's reflection reads the
    ON DELETE of table-level FOREIGN KEY clauses only, so it reports the key as different."""
    kind, key = difference[0], difference[1]
    if kind not in ("remove_fk", "add_fk"):
        return False
    columns = [element.parent.name for element in key.elements]  # type: ignore[attr-defined]
    return columns == ["project_id"]


def test_a_short_read_runs_on_the_event_loop_only_on_sqlite(database: Database) -> None:
    """``Database.read``: a point read on SQLite costs less than a hop to a worker thread; on
    Postgres it is a network round-trip and must not hold the event loop."""
    import threading

    import anyio

    async def where() -> bool:
        loop_thread = threading.get_ident()
        return await database.read(lambda: threading.get_ident() == loop_thread)

    assert anyio.run(where) is database.is_sqlite


def test_a_read_on_the_event_loop_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """What makes reading on the event loop safe on SQLite: in WAL mode a reader goes on while
    another connection holds the write lock (the busy timeout is 10 s; it is not waited)."""
    import time

    import anyio

    from causerie.storage.users import UserStore

    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.migrate()
    ConversationStore(database).create(title="before")
    with sqlite3.connect(tmp_path / "w.db", isolation_level=None) as writer:
        writer.execute("BEGIN EXCLUSIVE")  # in a rollback journal, readers would wait
        writer.execute("UPDATE conversations SET title = 'uncommitted'")
        started = time.monotonic()
        assert anyio.run(database.read, UserStore(database).any) is False
        assert time.monotonic() - started < 2
        writer.execute("ROLLBACK")
    database.dispose()
