"""A real ChatGPT export through Causerie's archive: imported, exported, imported into an empty
database, exported again: the same archive; and importing the ChatGPT export again after the
round trip writes nothing (its provenance came along)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from causerie.storage import Database
from tests.archive.chatgpt_factory import bulk_conversations, export_zip, rich_conversation
from tests.chat.archives import database_pair, export_archive, import_archive, members, validate
from tests.chat.imports import ASSETS, import_bytes, row_counts

OWNER = "someone"


@pytest.fixture(params=["sqlite", "postgres"])
def two_databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Database, Database]]:
    yield from database_pair(request, tmp_path)


def test_a_chatgpt_export_survives_the_archive_round_trip(
    two_databases: tuple[Database, Database],
) -> None:
    source, target = two_databases
    chatgpt = export_zip([rich_conversation(), *bulk_conversations(3, 4)], assets=ASSETS)
    import_bytes(source, chatgpt, OWNER)
    first = export_archive(source, OWNER)
    validate(first)
    restored = import_archive(target, first, OWNER)
    assert (restored.created, restored.attachments_stored) == (4, 1)
    second = export_archive(target, OWNER)
    assert members(second) == members(first)
    before = row_counts(target)
    again = import_bytes(target, chatgpt, OWNER)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert row_counts(target) == before


def test_an_archive_imported_into_another_account_of_the_same_database_is_a_copy(
    two_databases: tuple[Database, Database],
) -> None:
    """Its ids are taken: new ones, the copy known by its archive ids, so importing the
    archive again into that account writes nothing."""
    source, _ = two_databases
    import_bytes(source, export_zip([rich_conversation()], assets=ASSETS), OWNER)
    archive = export_archive(source, OWNER)
    copy = import_archive(source, archive, "another")
    assert copy.created == 1 and copy.attachments_stored == 1
    before = row_counts(source)
    again = import_archive(source, archive, "another")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert row_counts(source) == before
    theirs = members(export_archive(source, "another"))
    ours = members(archive)
    assert len(theirs) == len(ours)
    (conversation,) = [v for k, v in theirs.items() if k.startswith("conversations/")]
    assert conversation["imported_from"]["source"] == "causerie"
