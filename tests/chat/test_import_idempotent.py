"""Importing again adds only what changed; bad input, or a failure half way, leaves every table
as it was; one bad conversation costs only itself; absurd values are cut to their columns."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from causerie.archive import open_export
from causerie.chat.importer import Importer
from causerie.errors import ImportFormatError
from causerie.storage import ConversationStore, Database
from causerie.storage.imports import (
    ConversationDraft,
    ImportJournal,
    ImportStore,
    NodeDraft,
    Written,
)
from causerie.storage.listing import ConversationListing
from causerie.storage.tree import MessageTree
from tests.archive.chatgpt_factory import (
    T0,
    Conversation,
    bulk_conversations,
    export_zip,
    rich_conversation,
)
from tests.chat.imports import (
    ASSETS,
    FailingHalfWay,
    as_json,
    conversation_of,
    import_bytes,
    messages_of,
    refused_untouched,
    row_counts,
)


def node(node_id: str, parent: str, role: str, text: str, seconds: float) -> dict[str, Any]:
    """A mapping entry as newer exports write them (no ``children``)."""
    message = {
        "id": node_id,
        "author": {"role": role},
        "create_time": T0 + seconds,
        "content": {"content_type": "text", "parts": [text]},
        "status": "finished_successfully",
        "recipient": "all",
        "metadata": {},
    }
    return {"id": node_id, "parent": parent, "message": message}


def test_importing_the_same_export_again_creates_nothing(database: Database) -> None:
    data = export_zip([rich_conversation(), *bulk_conversations(4, 6)], assets=ASSETS)
    first = import_bytes(database, data)
    assert (first.created, first.messages, first.hidden) == (5, 9 + 4 * 6, 3 + 4 * 2)
    before = row_counts(database)
    again = import_bytes(database, data, progress=lambda done, total: None)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert (again.messages, again.hidden, again.attachments_stored) == (0, 0, 0)
    assert row_counts(database) == before
    # the other layout of the same account's export is the same conversations
    import_bytes(database, export_zip([rich_conversation()], layout="sharded", assets=ASSETS))
    assert row_counts(database) == before


def test_a_newer_export_adds_only_the_new_messages_on_their_branch(database: Database) -> None:
    import_bytes(database, export_zip([rich_conversation()], assets=ASSETS))
    conversation = conversation_of(database, "conv-rich")
    old_rows = messages_of(database, conversation.id)
    before = row_counts(database)
    newer = rich_conversation()
    newer["title"] = "Renamed in ChatGPT"
    newer["is_archived"] = True
    newer["mapping"]["u4"] = node("u4", "a1", "user", "Back to the first answer: which breed?", 70)
    newer["mapping"]["a4"] = node("a4", "u4", "assistant", "A tabby.", 80)
    newer["current_node"] = "a4"
    summary = import_bytes(database, export_zip([newer], assets=ASSETS))
    assert (summary.created, summary.updated, summary.messages, summary.hidden) == (0, 1, 2, 0)
    after = row_counts(database)
    assert after["messages"] == before["messages"] + 2
    assert {k: v for k, v in after.items() if k != "messages"} == {
        k: v for k, v in before.items() if k != "messages"
    }
    rows = messages_of(database, conversation.id)
    assert {k: r.id for k, r in rows.items() if k in old_rows} == {
        k: r.id for k, r in old_rows.items()
    }
    assert rows["u4"].parent_id == old_rows["a1"].id and rows["a4"].parent_id == rows["u4"].id
    updated = conversation_of(database, "conv-rich")
    assert updated.title == "Renamed in ChatGPT" and updated.archived
    assert updated.current_leaf_id == rows["a4"].id
    thread = MessageTree(database).thread(conversation.id)
    assert [item.message.content for item in thread][-2:] == [
        "Back to the first answer: which breed?",
        "A tabby.",
    ]


def test_what_the_user_changed_here_stays_unless_the_export_changed_it(
    database: Database,
) -> None:
    data = export_zip([rich_conversation()], assets=ASSETS)
    import_bytes(database, data)
    conversation = conversation_of(database, "conv-rich")
    ConversationStore(database).rename(conversation.id, "My own title")
    ConversationListing(database).set_pinned(conversation.id, True)
    import_bytes(database, data)
    kept = conversation_of(database, "conv-rich")
    assert kept.title == "My own title" and kept.pinned


def test_a_deleted_conversation_comes_back_with_the_next_import(database: Database) -> None:
    data = export_zip([rich_conversation()], assets=ASSETS)
    import_bytes(database, data)
    before = row_counts(database)
    ConversationStore(database).delete(conversation_of(database, "conv-rich").id)
    assert row_counts(database)["conversation_imports"] == 0
    assert row_counts(database)["message_attachments"] == 0
    assert import_bytes(database, data).created == 1
    assert row_counts(database) == before


def test_imports_of_two_owners_never_meet(database: Database) -> None:
    data = export_zip([rich_conversation()], assets=ASSETS)
    import_bytes(database, data, owner="alice")
    assert import_bytes(database, data, owner="bob").created == 1
    assert conversation_of(database, "conv-rich", "alice").id != (
        conversation_of(database, "conv-rich", "bob").id
    )
    assert ConversationStore(database, "carol").list_recent() == []


def zip_with(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


GOOD = as_json([rich_conversation()])
BAD_INPUTS = {
    "not a zip": b"this is not an export",
    "truncated zip": export_zip([rich_conversation()])[:-200],
    "invalid JSON": GOOD[:-40],
    "truncated JSON in a zip": zip_with({"conversations.json": GOOD[:-40]}),
    "wrong shape": b'{"conversations": []}',
    "empty list": b"[]",
    "a zip of an empty list": zip_with({"conversations.json": b"[]"}),
    "a zip of empty lists": zip_with(
        {"conversations-000.json": b"[]", "conversations-001.json": b" [ ] "}
    ),
    "empty file": b"",
    "a '..' member": zip_with({"conversations.json": GOOD, "../evil.txt": b"x"}),
    "an absolute member": zip_with({"conversations.json": GOOD, "/etc/evil": b"x"}),
    "a zip bomb": zip_with({"conversations.json": GOOD, "zeros.bin": b"\0" * (3 * 1024**2)}),
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_is_refused_and_every_table_stays_as_it_was(
    database: Database, kind: str
) -> None:
    import_bytes(database, export_zip(list(bulk_conversations(2, 4))))
    refused_untouched(database, BAD_INPUTS[kind])


def test_a_failure_half_way_takes_back_what_the_import_wrote(database: Database) -> None:
    import_bytes(database, export_zip([rich_conversation()], assets=ASSETS))
    conversation = conversation_of(database, "conv-rich")
    before = row_counts(database)
    newer = rich_conversation()
    newer["title"] = "Renamed"
    newer["mapping"]["a3b"] = node("a3b", "u1e", "assistant", "Another dog.", 100)
    data = export_zip([*bulk_conversations(5, 4), newer, *bulk_conversations(5, 4, seed=1)])
    progress: list[tuple[int, int]] = []
    with open_export(io.BytesIO(data)) as export, pytest.raises(ImportFormatError):
        Importer(ImportStore(database, "local"), batch_size=2).run(
            FailingHalfWay(export, 9), lambda *step: progress.append(step)
        )
    assert progress[0] == (0, 11) and progress[-1] == (8, 11)  # four batches were written
    assert row_counts(database) == before
    restored = conversation_of(database, "conv-rich")
    assert (restored.title, restored.current_leaf_id) == (
        "Rich conversation",
        conversation.current_leaf_id,
    )


def test_a_malformed_conversation_is_skipped_with_its_reason(database: Database) -> None:
    broken = {"conversation_id": "broken", "title": "Folder entry"}
    summary = import_bytes(
        database, as_json([rich_conversation(), broken, *bulk_conversations(1, 4)])
    )
    assert (summary.total, summary.created) == (3, 2)
    (skipped,) = summary.skipped
    assert (skipped.external_id, skipped.title) == ("broken", "Folder entry")
    assert "mapping" in skipped.reason and skipped.where == "conversations.json #2"
    assert len(ConversationStore(database).list_recent()) == 2


class RefusingOne(ImportStore):
    """The database refuses any batch holding conversation ``bad`` (say, a value it rejects)."""

    def write(self, drafts: Sequence[ConversationDraft], journal: ImportJournal) -> list[Written]:
        if any(draft.external_id == "bulk-0-000001" for draft in drafts):
            raise ValueError("refused")
        return super().write(drafts, journal)


def test_a_conversation_the_database_refuses_is_skipped_and_its_batch_imported(
    database: Database,
) -> None:
    with open_export(io.BytesIO(as_json(list(bulk_conversations(3, 4))))) as export:
        summary = Importer(RefusingOne(database, "local"), batch_size=3).run(export)
    assert summary.created == 2
    (skipped,) = summary.skipped
    assert skipped.external_id == "bulk-0-000001" and "refused" in skipped.reason


def test_absurd_values_are_cut_to_their_columns(database: Database) -> None:
    c = Conversation("long", title="T" * 100_000, default_model_slug="m" * 100_000)
    c.add("u", c.root(), "user", "Hello\x00there", at=1, metadata={"model_slug": "x" * 10_000})
    import_bytes(database, as_json([c.build("u")]))
    conversation = conversation_of(database, "long")
    assert conversation.title == "T" * 200 and len(conversation.model) == 200
    assert messages_of(database, conversation.id)["u"].content == "Hellothere"
    # what storage is handed is cut too, whichever reader made it
    when = datetime(2024, 1, 1, tzinfo=UTC)
    node = NodeDraft("n" * 5000, None, "assistant", "hi", when, model="m" * 5000)
    draft = ConversationDraft(
        "chatgpt", "e" * 5000, "t" * 5000, when, when, (node,), node.external_id
    )
    (written,) = ImportStore(database, "local").write([draft], ImportJournal())
    assert ConversationStore(database).get(written.conversation_id).title == "t" * 200


def test_attachments_past_the_limit_are_kept_as_placeholders(database: Database) -> None:
    summary = import_bytes(
        database, export_zip([rich_conversation()], assets=ASSETS), max_attachment_bytes=16
    )
    assert (summary.attachments_stored, summary.attachments_missing) == (0, 2)
