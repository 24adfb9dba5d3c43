"""What of its files a turn is given, by the conversation's ``documents`` setting, on the real
search and storage (SQLite), without a model: the best passages, or the whole text when it
fits, when the question is about the whole, or when the user says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from causerie.chat.files import ChatFiles, asks_for_the_whole, document_mode
from causerie.storage import ConversationStore, Database
from causerie.storage.documents import DocumentStore
from tests.helpers import EMBEDDER
from tests.storage.test_documents import ingest

pytestmark = pytest.mark.anyio

CHAPTERS = [
    f"Chapter {n}: the keeper logged the weather on day {n} of the winter." for n in range(1, 41)
]


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'modes.db'}")
    database.migrate()
    yield database
    database.dispose()


def conversation_with_file(database: Database, text: str) -> str:
    conversation = ConversationStore(database, "alice").create(title="log")
    stored = DocumentStore(database, "alice").add(
        "log.txt", "text", text.encode(), conversation_id=conversation
    )
    ingest(database, stored.sha256)
    return conversation


@pytest.mark.parametrize(
    ("question", "whole"),
    [
        ("Summarise this document.", True),
        ("Résume le fichier en trois phrases.", True),
        ("Translate it into French.", True),
        ("Combien de jours sont mentionnés ?", True),
        ("How many chapters are there?", True),
        ("List all the dates.", True),
        ("When did the storm break the lamp?", False),
        ("Qui a rallumé la lampe ?", False),
        ("Count the chapters.", True),
        ("Which country is the harbour in?", False),
        ("Quel est le solde de mon compte ?", False),
    ],
)
def test_questions_about_the_whole_text_are_recognised(question: str, whole: bool) -> None:
    assert asks_for_the_whole(question) is whole


def test_an_unknown_setting_is_auto() -> None:
    assert [document_mode(v) for v in ("whole", "passages", "auto", "", "x")] == [
        "whole",
        "passages",
        "auto",
        "auto",
        "auto",
    ]


async def test_a_short_file_is_given_whole_and_a_long_one_by_passages(
    sqlite_database: Database,
) -> None:
    files = ChatFiles(sqlite_database, EMBEDDER)
    short = conversation_with_file(sqlite_database, "The harbour closes at noon on Sundays.")
    given = await files.passages("alice", short, "When does it close?", 4000)
    assert [hit.text for hit in given.hits] == ["The harbour closes at noon on Sundays."]
    assert not given.too_long

    long = conversation_with_file(sqlite_database, "\n\n".join(CHAPTERS))
    store = DocumentStore(sqlite_database, "alice")
    long_file = store.files(conversation_id=long)[0].id
    # the text's length, its overlapping passages counted once
    assert store.text_length([long_file]) == len("\n\n".join(CHAPTERS))
    assert DocumentStore(sqlite_database, "mallory").text_length([long_file]) == 0
    question = "What did the keeper log on day 17?"
    best = await files.passages("alice", long, question, 600)
    assert sum(len(hit.text) for hit in best.hits) <= 600 and not best.too_long
    assert any("day 17 " in hit.text for hit in best.hits)
    # the same budget, asked for a summary: the whole text, uncut, longer than the budget (a
    # map-reduce answers it: tests/chat/test_map_reduce.py)
    summary = await files.passages("alice", long, "Summarise the log.", 600)
    assert summary.too_long and "\n\n".join(hit.text for hit in summary.hits) == "\n\n".join(
        CHAPTERS
    )
    # forced either way by the setting
    forced = await files.passages("alice", long, question, 600, mode="whole")
    assert forced.too_long and forced.hits[0].text.startswith("Chapter 1:")
    chosen = await files.passages(
        "alice", short, "Summarise the harbour rules.", 4000, mode="passages"
    )
    assert chosen.hits and chosen.hits[0].position == 0 and not chosen.too_long
