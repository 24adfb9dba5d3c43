"""Projects on real SQLite and Postgres: created, listed, renamed, archived, owned; their chats
and files; deleted with both, the files' text erased; their instructions read with a turn."""

from __future__ import annotations

import pytest

from causerie.errors import NotFoundError
from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.documents import DocumentStore
from causerie.storage.preferences import Preferences
from causerie.storage.projects import ProjectStore
from causerie.storage.tables import BlobRow
from tests.storage.test_documents import count, index_rows, ingest


def test_a_project_is_created_changed_archived_and_owned(database: Database) -> None:
    projects = ProjectStore(database, "alice")
    made = projects.create("  Thesis   on  lighthouses ", "Answer in French.\n")
    assert (made.name, made.instructions, made.archived) == (
        "Thesis on lighthouses",
        "Answer in French.",
        False,
    )
    assert [p.id for p in projects.list()] == [made.id]
    renamed = projects.update(made.id, name="Thesis", instructions="")
    assert (renamed.name, renamed.instructions) == ("Thesis", "")
    projects.update(made.id, archived=True)
    assert projects.list() == [] and [p.id for p in projects.list(archived=True)] == [made.id]
    assert projects.create("").name == "New project"
    mallory = ProjectStore(database, "mallory")
    for attempt in (mallory.get, mallory.delete):
        with pytest.raises(NotFoundError):
            attempt(made.id)
    with pytest.raises(NotFoundError):
        mallory.update(made.id, name="mine")
    assert mallory.list(archived=True) == []


def test_chats_and_files_in_a_project_and_its_instructions_in_a_turn(
    database: Database,
) -> None:
    projects = ProjectStore(database, "alice")
    project = projects.create("Harbour", "Cite the harbour rules.")
    conversations = ConversationStore(database, "alice")
    chat = conversations.create(title="Sundays")
    projects.move(chat, project.id)
    documents = DocumentStore(database, "alice")
    rules = documents.add(
        "rules.txt", "text", b"The harbour closes at noon.", project_id=project.id
    )
    own = documents.add("note.txt", "text", b"My own note.", conversation_id=chat)
    assert {f.id for f in documents.for_conversation(chat)} == {rules.id, own.id}
    assert [f.id for f in documents.files(project_id=project.id)] == [rules.id]
    shown = projects.get(project.id)
    assert (shown.conversations, shown.files) == (1, 1)
    assert Preferences(database, "alice").for_turn(chat).project_instructions == (
        "Cite the harbour rules."
    )
    projects.move(chat, None)
    assert [f.id for f in documents.for_conversation(chat)] == [own.id]
    assert Preferences(database, "alice").for_turn(chat).project_instructions == ""
    # another owner's project or conversation: not found
    with pytest.raises(NotFoundError):
        ProjectStore(database, "mallory").move(chat, None)
    with pytest.raises(NotFoundError):
        DocumentStore(database, "mallory").add("x.txt", "text", b"x", project_id=project.id)


def test_deleting_a_project_erases_its_chats_and_files(database: Database) -> None:
    projects = ProjectStore(database, "alice")
    project = projects.create("Vault")
    conversations = ConversationStore(database, "alice")
    chat = conversations.create(title="codes")
    conversations.append(chat, None, [MessageDraft("user", "canary-5150 is the code")])
    projects.move(chat, project.id)
    documents = DocumentStore(database, "alice")
    kept_chat = conversations.create(title="elsewhere")
    shared = documents.add("vault.txt", "text", b"canary-6160 opens it", project_id=project.id)
    attached = documents.add("chat.txt", "text", b"canary-7170 too", conversation_id=chat)
    elsewhere = documents.add("other.txt", "text", b"kept words", conversation_id=kept_chat)
    for stored in (shared, attached, elsewhere):
        ingest(database, stored.sha256)
    assert index_rows(database, "canary") == 2
    projects.delete(project.id)
    assert index_rows(database, "canary") == 0 and count(database, BlobRow) == 1
    with pytest.raises(NotFoundError):
        conversations.branch(chat)
    assert [c.id for c in conversations.list_recent(10)] == [kept_chat]
    assert [f.id for f in documents.files()] == [elsewhere.id]
