"""Migration 0002's features on real SQLite and Postgres: listing, tree, feedback, search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from causerie.errors import InvalidRequestError, NotFoundError
from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.listing import ConversationListing
from causerie.storage.search import MARK_END, MARK_START, SearchIndex, search_terms
from causerie.storage.tables import ConversationRow
from causerie.storage.tree import MessageTree


@dataclass
class Stores:
    database: Database
    conversations: ConversationStore
    listing: ConversationListing
    tree: MessageTree
    search: SearchIndex

    def age(self, conversation_id: str, days: float) -> None:
        moment = datetime.now(UTC) - timedelta(days=days)
        with self.database.session() as session:
            session.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(updated_at=moment)
            )


@pytest.fixture
def stores(database: Database) -> Stores:
    return Stores(
        database,
        ConversationStore(database),
        ConversationListing(database),
        MessageTree(database),
        SearchIndex(database),
    )


def test_pages_follow_the_cursor_without_gaps_or_repeats(stores: Stores) -> None:
    ids = [stores.conversations.create(title=f"c{i}") for i in range(7)]
    for index, conversation_id in enumerate(ids):
        stores.age(conversation_id, days=index)  # ids[0] newest
    stores.age(ids[4], days=3)  # a tie on updated_at is ordered by id
    seen: list[str] = []
    cursor = None
    while True:
        page = stores.listing.page(cursor=cursor, limit=3)
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)
    assert seen[:3] == ids[:3]
    with pytest.raises(InvalidRequestError):
        stores.listing.page(cursor="garbage")


def test_pin_and_archive(stores: Stores) -> None:
    first = stores.conversations.create(title="first")
    second = stores.conversations.create(title="second")
    stores.listing.set_pinned(first, True)
    assert [c.id for c in stores.listing.pinned()] == [first]
    assert first not in [c.id for c in stores.listing.page().items]
    assert stores.conversations.get(first).pinned
    stores.listing.set_archived(first, True)  # archiving unpins
    stores.listing.set_archived(second, True)
    assert stores.listing.pinned() == []
    assert stores.listing.page().items == []
    archive = stores.listing.page(archived=True).items
    assert {c.id for c in archive} == {first, second} and all(c.archived for c in archive)
    stores.listing.set_archived(second, False)
    assert [c.id for c in stores.listing.page().items] == [second]
    with pytest.raises(NotFoundError):
        stores.listing.set_pinned("nope", True)


def test_thread_siblings_and_select(stores: Stores) -> None:
    store, tree = stores.conversations, stores.tree
    conversation = store.create()
    question, answer = store.append(
        conversation, None, [MessageDraft("user", "Q"), MessageDraft("assistant", "A1")]
    )
    follow_up = store.append(conversation, answer.id, [MessageDraft("user", "Q2")])[0]
    regenerated = store.append(conversation, question.id, [MessageDraft("assistant", "A2")])[0]
    edited = store.append(conversation, None, [MessageDraft("user", "Q edited")])[0]

    thread = tree.thread(conversation)
    assert [t.message.content for t in thread] == ["Q edited"]
    assert thread[0].siblings == (question.id, edited.id) and thread[0].position == 2

    leaf = tree.select(conversation, question.id)  # back to the first question: newest leaf below
    assert leaf == regenerated.id
    thread = tree.thread(conversation)
    assert [t.message.content for t in thread] == ["Q", "A2"]
    assert thread[1].siblings == (answer.id, regenerated.id) and thread[1].position == 2

    assert tree.select(conversation, answer.id) == follow_up.id
    assert [t.message.content for t in tree.thread(conversation)] == ["Q", "A1", "Q2"]
    # choosing a message already on the branch keeps the leaf
    assert tree.select(conversation, question.id) == follow_up.id
    # ``through`` shows another branch without moving the leaf
    shown = tree.thread(conversation, through=regenerated.id)
    assert [t.message.content for t in shown] == ["Q", "A2"]
    assert store.get(conversation).current_leaf_id == follow_up.id
    with pytest.raises(NotFoundError):
        tree.select(conversation, "missing")
    assert tree.thread(store.create()) == []


def test_feedback_on_replies(stores: Stores) -> None:
    store, tree = stores.conversations, stores.tree
    conversation = store.create()
    question, answer = store.append(
        conversation, None, [MessageDraft("user", "Q"), MessageDraft("assistant", "A")]
    )
    saved = tree.set_feedback(conversation, answer.id, -1, "  wrong capital  ")
    assert (saved.rating, saved.feedback_comment) == (-1, "wrong capital")
    stored = tree.thread(conversation)[1].message
    assert (stored.rating, stored.feedback_comment) == (-1, "wrong capital")
    assert tree.set_feedback(conversation, answer.id, None, "").rating is None
    with pytest.raises(InvalidRequestError):
        tree.set_feedback(conversation, answer.id, 5, None)
    with pytest.raises(InvalidRequestError):
        tree.set_feedback(conversation, question.id, 1, None)
    with pytest.raises(NotFoundError):
        tree.set_feedback(store.create(), answer.id, 1, None)


def test_search_titles_and_messages_with_highlights(stores: Stores) -> None:
    store, search = stores.conversations, stores.search
    paris = store.create(title="Trip to Paris")
    store.append(
        paris,
        None,
        [
            MessageDraft("user", "Where should we eat?"),
            MessageDraft("assistant", "Try a crêperie near the Seine; the galettes are great."),
        ],
    )
    rome = store.create(title="Rome notes")
    rome_messages = store.append(
        rome, None, [MessageDraft("user", "Tell me about the Colosseum and its <b>arches</b>")]
    )

    hits = search.search("paris")
    assert [(h.conversation_id, h.message_id) for h in hits] == [(paris, None)]
    assert hits[0].snippet == f"Trip to {MARK_START}Paris{MARK_END}"

    hits = search.search("colos")  # the last word is a prefix
    assert [(h.conversation_id, h.message_id) for h in hits] == [(rome, rome_messages[0].id)]
    assert f"{MARK_START}Colosseum{MARK_END}" in hits[0].snippet
    assert "arches" in hits[0].snippet  # raw text (Postgres drops tags): the page escapes it

    hits = search.search("galettes seine")  # every word must match
    assert [h.conversation_id for h in hits] == [paris]
    assert search.search("galettes colosseum") == []
    assert search.search('"); DROP TABLE messages; --') == []  # reduced to words, no syntax
    assert search.search("   ") == []

    store.rename(rome, "Roman holiday")  # titles stay in step
    assert [h.conversation_id for h in search.search("roman")] == [rome]
    assert search.search("notes") == []
    store.delete(paris)  # and deleted messages leave the index
    assert search.search("galettes") == []


def test_search_terms_keep_only_words() -> None:
    assert search_terms('Crêpe AND* "x" -y OR NEAR(z)') == [
        "crêpe",
        "and",
        "x",
        "y",
        "or",
        "near",
        "z",
    ]
    assert search_terms("a_b") == ["a", "b"]


def test_upgrading_indexes_existing_messages(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from causerie.storage.db import MIGRATIONS_DIR

    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with database.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO conversations VALUES ('c1', 'Old title', 'web', '', 'm1', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO messages VALUES ('m1', 'c1', NULL, 'user', 'an old zeppelin', 'h', "
            "'complete', NULL, NULL, 0, 0, '2026-01-01 00:00:00')"
        )
    database.migrate()
    search = SearchIndex(database)
    assert [h.message_id for h in search.search("zeppelin")] == ["m1"]
    assert [h.conversation_id for h in search.search("old title")] == ["c1"]
    assert ConversationStore(database).get("c1").pinned is False
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    database.migrate()  # and up again: what SQLite kept on the way down is taken as it is
    assert ConversationStore(database).get("c1").title == "Old title"
    database.dispose()


def test_share_snapshots_the_branch_and_revokes(stores: Stores) -> None:
    from causerie.storage.shares import ShareStore

    shares = ShareStore(stores.database)
    store = stores.conversations
    conversation = store.create(title="Shared")
    _, answer = store.append(
        conversation, None, [MessageDraft("user", "Q"), MessageDraft("assistant", "A")]
    )
    share = shares.create(conversation)
    assert len(share.token) >= 32
    store.append(conversation, answer.id, [MessageDraft("user", "later, private")])
    again = shares.get(share.token)
    assert [(m.role, m.content) for m in again.messages] == [("user", "Q"), ("assistant", "A")]
    assert again.title == "Shared" and [s.token for s in shares.active(conversation)] == [
        share.token
    ]
    with pytest.raises(NotFoundError):
        shares.revoke(store.create(), share.token)  # only from its own conversation
    shares.revoke(conversation, share.token)
    with pytest.raises(NotFoundError):
        shares.get(share.token)
    assert shares.active(conversation) == []
    second = shares.create(conversation)
    store.delete(conversation)  # deleting the conversation deletes its links
    with pytest.raises(NotFoundError):
        shares.get(second.token)


def test_every_message_keeps_all_branches(stores: Stores) -> None:
    store = stores.conversations
    conversation = store.create()
    question, _ = store.append(
        conversation, None, [MessageDraft("user", "Q"), MessageDraft("assistant", "A1")]
    )
    store.append(conversation, question.id, [MessageDraft("assistant", "A2")])
    every = stores.tree.every_message(conversation)
    assert [m.content for m in every] == ["Q", "A1", "A2"]


def test_chat_settings_and_custom_instructions(stores: Stores) -> None:
    from causerie.storage.preferences import CUSTOM_INSTRUCTIONS, ChatSettings, Preferences

    preferences = Preferences(stores.database)
    conversation = stores.conversations.create()
    assert preferences.chat_settings(conversation) == ChatSettings()
    chosen = ChatSettings(system_prompt="Answer in French.", temperature=0.2, max_tokens=64)
    preferences.set_chat_settings(conversation, chosen)
    assert preferences.chat_settings(conversation) == chosen
    with pytest.raises(NotFoundError):
        preferences.chat_settings("nope")
    assert preferences.get(CUSTOM_INSTRUCTIONS) == ""
    preferences.set(CUSTOM_INSTRUCTIONS, "I am a teacher.")
    preferences.set(CUSTOM_INSTRUCTIONS, "I am a nurse.")
    assert preferences.get(CUSTOM_INSTRUCTIONS) == "I am a nurse."


def test_a_turn_reads_its_preferences_in_one_go(stores: Stores) -> None:
    from causerie.storage.preferences import (
        CUSTOM_INSTRUCTIONS,
        PRIVATE_NAMES,
        ChatSettings,
        Preferences,
        TurnPreferences,
    )

    preferences = Preferences(stores.database)
    conversation = stores.conversations.create()
    assert preferences.for_turn(conversation) == TurnPreferences()
    assert preferences.for_turn(None) == TurnPreferences()
    chosen = ChatSettings(system_prompt="Answer in French.", max_tokens=64)
    preferences.set_chat_settings(conversation, chosen)
    preferences.set(CUSTOM_INSTRUCTIONS, "I am a nurse.")
    preferences.set(PRIVATE_NAMES, "Jean Dupont\njean dupont\n\nZoé")
    Preferences(stores.database, "someone-else").set(CUSTOM_INSTRUCTIONS, "Not mine.")
    read = preferences.for_turn(conversation)
    assert read == TurnPreferences(chosen, "I am a nurse.", ("Jean Dupont", "Zoé"))
    assert preferences.for_turn(None).settings == ChatSettings()  # a new conversation
    with pytest.raises(NotFoundError):  # another owner's conversation is a missing one
        Preferences(stores.database, "someone-else").for_turn(conversation)


def test_upgrading_keeps_files_passages_and_the_search_triggers(tmp_path: Path) -> None:
    """A database with documents (revision 0006) brought to the newest schema: its files and
    passages are all there (no table rebuilt under ON DELETE CASCADE), the passage count is
    filled in, and new conversations and passages still reach their search indexes."""
    from alembic import command
    from alembic.config import Config

    from causerie.storage.contents import DocumentContents
    from causerie.storage.db import MIGRATIONS_DIR
    from causerie.storage.documents import DocumentStore
    from causerie.types import Passage

    database = Database(f"sqlite:///{tmp_path / 'docs.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    with database.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO file_blobs VALUES ('s1', 5, x'00', 'text', 'searchable', NULL, 1, "
            "'2026-01-01 00:00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO files VALUES ('f1', 'local', 's1', 'old.txt', NULL, '2026-01-01 00:00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO passages (blob_sha, position, page, start_offset, end_offset, text) "
            "VALUES ('s1', 0, NULL, 0, 19, 'an old zeppelin log')"
        )
    database.migrate()
    store = DocumentStore(database)
    assert store.get("f1").passages == 1 and store.get("f1").status == "searchable"
    assert [h.text for h in store.search("zeppelin", ["f1"])] == ["an old zeppelin log"]
    conversation = ConversationStore(database).create(title="A brand new airship")
    assert [h.conversation_id for h in SearchIndex(database).search("airship")] == [conversation]
    new = store.add("new.txt", "text", b"a dirigible")
    DocumentContents(database).begin(new.sha256)
    DocumentContents(database).save_passages(
        new.sha256, 1, [Passage(0, None, 0, 11, "a dirigible")]
    )
    assert store.search("dirigible", [new.id])
    database.dispose()
