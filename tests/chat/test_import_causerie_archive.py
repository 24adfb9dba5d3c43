"""A bad Causerie archive never changes the database: a bad manifest is refused before any
write (preferences and projects included), a failure half way takes them back too, and a bad
conversation member costs only itself, skipped with its reason."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from causerie.archive import open_export
from causerie.chat.importer import Importer
from causerie.errors import ImportFormatError
from causerie.storage import ConversationStore, Database
from causerie.storage.conversations import MessageDraft
from causerie.storage.imports import ImportStore
from causerie.storage.listing import ConversationListing
from causerie.storage.preferences import Preferences
from causerie.storage.shares import ShareStore
from causerie.storage.tree import MessageTree
from causerie.types import LOCAL_OWNER
from tests.archive.causerie_factory import (
    account,
    archive_zip,
    at,
    conversation,
    message,
    project,
)
from tests.archive.chatgpt_factory import bulk_conversations, export_zip
from tests.chat.archives import export_archive, import_archive
from tests.chat.imports import FailingHalfWay, import_bytes, refused_untouched, row_counts

GOOD = [conversation("c1"), conversation("c2")]
PREFERENCES = {"custom_instructions": "Answer in French.", "theme": "dark"}
PROJECTS = [project("p1", "Garden")]


def manifest(**changes: Any) -> dict[str, Any]:
    """A valid manifest holding preferences, a project and GOOD, with ``changes`` made."""
    found: dict[str, Any] = {
        "format": "causerie.archive",
        "version": 1,
        "exported_at": at(100),
        "accounts": [account(GOOD, PREFERENCES, PROJECTS)],
    }
    found.update(changes)
    return found


def with_account(**changes: Any) -> dict[str, Any]:
    return manifest(accounts=[{**account(GOOD, PREFERENCES, PROJECTS), **changes}])


BAD_MANIFESTS: dict[str, tuple[Any, str]] = {
    "not JSON": (b"{not json", "not valid JSON"),
    "a list": ([], "not a Causerie archive's manifest"),
    "a newer version": (manifest(version=9), "update Causerie"),
    "no account": (manifest(accounts=[]), "holds no account"),
    "an account that is not an object": (manifest(accounts=["alice"]), "accounts[0]"),
    "a preference that is a number": (
        with_account(preferences={**PREFERENCES, "font_size": 14}),
        "preferences.font_size",
    ),
    "a project without its name": (
        with_account(projects=[{"id": "p1", "created_at": at(0)}]),
        "projects[0]",
    ),
    "a project's impossible date": (
        with_account(projects=[{**PROJECTS[0], "created_at": "2025-13-45T00:00:00+00:00"}]),
        "projects is malformed",
    ),
    "conversations that are not a list": (
        with_account(conversations="conversations/c1.json"),
        "accounts[0].conversations",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_MANIFESTS))
def test_a_bad_manifest_is_refused_and_every_table_stays_as_it_was(
    database: Database, kind: str
) -> None:
    import_bytes(database, export_zip(list(bulk_conversations(1, 4))))
    bad, said = BAD_MANIFESTS[kind]
    assert said in refused_untouched(database, archive_zip(GOOD, manifest=bad)).message


def test_a_failure_half_way_takes_back_the_preferences_and_projects(
    database: Database,
) -> None:
    before = row_counts(database)
    data = archive_zip(GOOD, preferences=PREFERENCES, projects=PROJECTS)
    with open_export(io.BytesIO(data)) as export, pytest.raises(ImportFormatError):
        Importer(ImportStore(database, LOCAL_OWNER), batch_size=1).run(FailingHalfWay(export, 1))
    assert row_counts(database) == before


def test_a_bad_conversation_member_is_skipped_with_its_reason(database: Database) -> None:
    impossible = message("m1", None, created_at="2025-13-45T00:00:00+00:00")
    listed = [
        conversation("good"),
        conversation("not-json"),
        conversation("title-number", title=42),
        conversation("project-list", project_id=["p1"]),
        conversation("gone"),
        conversation("bad-date", [impossible], leaf="m1"),
    ]
    data = archive_zip(
        listed,
        preferences=PREFERENCES,
        projects=PROJECTS,
        members={"conversations/not-json.json": b"{oops", "conversations/gone.json": None},
    )
    summary = import_bytes(database, data)
    assert (summary.total, summary.created) == (6, 1)
    reasons = {s.where: s.reason for s in summary.skipped}
    assert list(reasons) == [
        f"conversations/{name}.json #{index}"
        for index, name in [(2, "not-json"), (3, "title-number"), (4, "project-list")]
        + [(5, "gone"), (6, "bad-date")]
    ]
    assert "not valid JSON" in reasons["conversations/not-json.json #2"]
    assert "title" in reasons["conversations/title-number.json #3"]
    assert "project_id" in reasons["conversations/project-list.json #4"]
    assert "does not hold it" in reasons["conversations/gone.json #5"]
    assert "not a time" in reasons["conversations/bad-date.json #6"]
    assert [s.external_id for s in summary.skipped] == [
        None,
        "title-number",
        "project-list",
        None,
        "bad-date",
    ]
    (chat,) = ConversationStore(database).list_recent()
    assert chat.id == "good"


def test_what_is_not_restored_is_said_in_the_summary(database: Database) -> None:
    alice = ConversationStore(database, "alice")
    chat = alice.create(title="Shared", model="local")
    alice.append(chat, None, [MessageDraft("user", "Hello")])
    ShareStore(database, "alice").create(chat)
    Preferences(database, "alice").set("theme", "dark")
    Preferences(database, "bob").set("theme", "light")
    data = export_archive(database, "alice", "alice")
    summary = import_archive(database, data, "bob")  # ids and the token are alice's: a copy
    assert summary.created == 1
    assert any("1 share links were not restored" in w for w in summary.warnings)
    assert any("preferences theme were not restored" in w for w in summary.warnings)
    assert Preferences(database, "bob").get("theme") == "light"


def test_a_newer_archive_brings_its_title_flags_and_branch(
    database: Database, tmp_path: Path
) -> None:
    source = Database(f"sqlite:///{tmp_path / 'source.db'}")
    source.migrate()
    alice = ConversationStore(source, "alice")
    chat = alice.create(title="First title", model="local")
    (question,) = alice.append(chat, None, [MessageDraft("user", "Hello")])
    first = export_archive(source, "alice", "alice")
    import_archive(database, first, LOCAL_OWNER)
    ConversationListing(source, "alice").change(chat, title="Renamed", pinned=True)
    (reply,) = alice.append(chat, question.id, [MessageDraft("assistant", "Hi!")])
    MessageTree(source, "alice").select(chat, reply.id)
    newer = export_archive(source, "alice", "alice")
    summary = import_archive(database, newer, LOCAL_OWNER)
    assert (summary.created, summary.updated, summary.messages) == (0, 1, 1)
    restored = ConversationStore(database).get(chat)
    assert (restored.title, restored.pinned) == ("Renamed", True)
    assert MessageTree(database).thread(chat)[-1].message.id == reply.id
    # a rename made here since stays until an archive changes the title again
    ConversationListing(database).change(chat, title="Mine", pinned=False)
    assert import_archive(database, newer, LOCAL_OWNER).updated == 0
    kept = ConversationStore(database).get(chat)
    assert (kept.title, kept.pinned) == ("Mine", False)
    source.dispose()
