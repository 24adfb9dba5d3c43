"""Imported conversations behave like native ones: branches, the selected leaf, times, hidden
nodes, tool calls, reasoning, images, search and the per-conversation export, on SQLite and
Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from causerie.chat.export import to_json
from causerie.storage import ConversationStore, Database
from causerie.storage.attachments import MessageAttachments
from causerie.storage.imports import IMPORT_SOURCE, ImportStore
from causerie.storage.search import SearchIndex
from causerie.storage.tree import MessageTree
from tests.archive.chatgpt_factory import PNG, T0, Conversation, export_zip, rich_conversation
from tests.archive.openwebui_factory import openwebui_chat
from tests.chat.imports import ASSETS, as_json, conversation_of, import_bytes, messages_of


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.mark.parametrize("layout", ["legacy", "sharded"])
def test_a_chatgpt_export_keeps_every_branch_and_the_selected_one(
    database: Database, layout: str
) -> None:
    data = export_zip(
        [rich_conversation(children=layout == "legacy")], layout=layout, assets=ASSETS
    )
    summary = import_bytes(database, data)
    assert (summary.created, summary.skipped) == (1, [])
    conversation = conversation_of(database, "conv-rich")
    assert conversation.title == "Rich conversation" and conversation.source == IMPORT_SOURCE
    assert utc(conversation.created_at) == at(0) and utc(conversation.updated_at) == at(3600)
    rows = messages_of(database, conversation.id)
    # th and rc are folded into the call they led to: not messages of their own
    assert set(rows) == {
        *("client-created-root", "sys", "ctx", "u1", "a1", "a1b", "u2"),
        *("code", "out", "a2", "u1e", "a3"),
    }
    assert conversation.current_leaf_id == rows["a2"].id
    thread = MessageTree(database).thread(conversation.id)
    assert [item.message.id for item in thread] == [
        rows[key].id for key in ("u1", "a1b", "u2", "code", "out", "a2")
    ]
    first, answer = thread[0], thread[1]
    assert first.siblings == (rows["u1"].id, rows["u1e"].id)
    assert answer.siblings == (rows["a1"].id, rows["a1b"].id) and answer.position == 2
    assert first.message.content == "What is in this picture?\n\nAnd this one?"
    assert utc(first.message.created_at) == at(10) and utc(answer.message.created_at) == at(30)
    assert (answer.message.model, rows["a1"].model, thread[-1].message.model) == (
        "o3",
        "gpt-4o",
        "o3",
    )
    # choosing the edited first message shows its own branch, as with native messages
    leaf = MessageTree(database).select(conversation.id, rows["u1e"].id)
    assert leaf == rows["a3"].id
    assert [m.content for m in ConversationStore(database).branch(conversation.id)] == [
        "What is in this photo?",
        "A dog.",
    ]


def test_hidden_nodes_are_kept_but_never_shown_nor_sent(database: Database) -> None:
    import_bytes(database, export_zip([rich_conversation()], assets=ASSETS))
    conversation = conversation_of(database, "conv-rich")
    rows = messages_of(database, conversation.id)
    hidden = {key: row.hidden for key, row in rows.items() if row.hidden}
    assert hidden == {
        "client-created-root": "empty",
        "sys": "system",
        "ctx": "user_editable_context",
    }
    assert rows["ctx"].role == "user" and rows["ctx"].content == ""
    branch = ConversationStore(database).branch(conversation.id)  # what a model is sent
    assert all(message.hidden is None for message in branch) and branch[0].role == "user"
    every = MessageTree(database).every_message(conversation.id)
    assert len(every) == len(rows) and every[0].hidden == "empty"
    origin = ImportStore(database, "local").origin(conversation.id)
    assert origin is not None and origin.custom_instructions == {
        "about_user": "I live in Lyon.",
        "response_style": "Answer briefly.",
    }
    assert not any("Lyon" in row.content for row in rows.values())


def test_tool_calls_and_outputs_are_kept_and_reasoning_kept_apart(database: Database) -> None:
    import_bytes(database, export_zip([rich_conversation()], assets=ASSETS))
    conversation = conversation_of(database, "conv-rich")
    by_id = {m.id: m for m in MessageTree(database).every_message(conversation.id)}
    rows = messages_of(database, conversation.id)
    call, output = by_id[rows["code"].id], by_id[rows["out"].id]
    (tool_call,) = call.tool_calls
    assert tool_call.name == "python" and json.loads(tool_call.arguments)["code"] == "print(2 ** 2)"
    assert output.role == "tool" and output.tool_call_id == tool_call.id and output.content == "4"
    assert call.reasoning is not None and "Use matplotlib." in call.reasoning.text
    assert call.reasoning.summary == "Thought for 3s"
    assert "matplotlib" not in call.content and "Thought" not in by_id[rows["a2"].id].content
    assert by_id[rows["a2"].id].content.startswith("Squares grow fast ([Wiki](")


def test_an_image_in_the_export_is_stored_and_a_missing_one_is_a_placeholder(
    database: Database,
) -> None:
    summary = import_bytes(database, export_zip([rich_conversation()], assets=ASSETS))
    assert (summary.attachments_stored, summary.attachments_missing) == (1, 1)
    conversation = conversation_of(database, "conv-rich")
    rows = messages_of(database, conversation.id)
    attachments = MessageAttachments(database)
    present, gone = attachments.for_conversation(conversation.id)[rows["u1"].id]
    assert (present.name, present.mime_type, present.missing, present.is_image) == (
        "cat.png",
        "image/png",
        None,
        True,
    )
    assert attachments.content(present.id) == (present, PNG)
    assert gone.missing == "not_in_export" and gone.is_image
    assert MessageAttachments(database, "someone-else").for_conversation(conversation.id) == {}


def test_an_open_webui_export_imports_with_its_branches_flags_and_images(
    database: Database,
) -> None:
    summary = import_bytes(database, as_json([openwebui_chat()]))
    assert (summary.source, summary.created, summary.messages) == ("openwebui", 1, 5)
    assert summary.custom_instructions == ["Be terse."]
    conversation = conversation_of(database, "owui-1")
    assert conversation.pinned and not conversation.archived and conversation.title == "Capitals"
    rows = messages_of(database, conversation.id)
    thread = MessageTree(database).thread(conversation.id)
    assert [item.message.id for item in thread] == [rows[k].id for k in ("q1", "r2", "q2", "a2")]
    assert thread[1].siblings == (rows["r1"].id, rows["r2"].id)
    assert thread[1].message.content == "It is Paris." and thread[1].message.reasoning is not None
    assert thread[3].message.status == "interrupted"
    inline, linked = MessageAttachments(database).for_conversation(conversation.id)[rows["q1"].id]
    assert inline.missing is None and linked.missing == "not_in_export"


def test_search_finds_imported_messages_at_once_but_never_hidden_ones(database: Database) -> None:
    c = Conversation("searchable", title=None)
    c.add("sys", c.root(), "system", "zanzibarsecret instructions", metadata={})
    c.add("u", "sys", "user", "Tell me about the quokkaland festival", at=1)
    c.add("a", "u", "assistant", "It happens every spring in Wombatvale.", at=2)
    import_bytes(database, export_zip([c.build("a")]))
    conversation = conversation_of(database, "searchable")
    assert conversation.title == "Tell me about the quokkaland festival"  # none in the export
    (hit,) = SearchIndex(database).search("wombatvale")
    assert hit.conversation_id == conversation.id
    assert hit.message_id == messages_of(database, conversation.id)["a"].id
    assert SearchIndex(database).search("zanzibarsecret") == []
    assert SearchIndex(database, "someone-else").search("quokkaland") == []


def test_the_conversation_export_holds_what_was_imported(database: Database) -> None:
    import_bytes(database, export_zip([rich_conversation()], assets=ASSETS))
    conversation = conversation_of(database, "conv-rich")
    store = ConversationStore(database)
    messages = MessageTree(database).every_message(conversation.id)
    attachments = MessageAttachments(database).for_conversation(conversation.id)
    document = json.loads(to_json(store.get(conversation.id), messages, attachments=attachments))
    exported = {m["id"]: m for m in document["messages"]}
    rows = messages_of(database, conversation.id)
    assert exported[rows["sys"].id]["hidden"] == "system"
    assert exported[rows["code"].id]["reasoning"]["summary"] == "Thought for 3s"
    assert [a["name"] for a in exported[rows["u1"].id]["attachments"]] == ["cat.png", "file-GONE"]
    assert exported[rows["u1"].id]["attachments"][1]["missing"] == "not_in_export"
    assert "hidden" not in exported[rows["a2"].id]
