"""The background reader on real SQLite and Postgres: uploads become searchable without a
request waiting, a stop mid-read resumes, a deletion cancels, and a bad file fails alone."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from sqlalchemy import func, select, update

from causerie.retrieval.ingest import BACKGROUND_NICENESS, Ingestor, lower_priority
from causerie.storage import Database
from causerie.storage.contents import DocumentContents
from causerie.storage.documents import DocumentStore
from causerie.storage.tables import BlobRow, PassageRow
from tests.retrieval.files import docx_of, pdf_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def read_all(database: Database, **options: Any) -> None:
    """Run a background reader (with ``Ingestor``'s ``options``) until nothing is left."""
    ingestor = Ingestor(DocumentContents(database), **options)
    ingestor.start()
    try:
        ingestor.submit()
        await ingestor.idle()
    finally:
        await ingestor.close()


async def test_uploads_become_searchable_and_a_bad_file_fails_alone(database: Database) -> None:
    store = DocumentStore(database, "alice")
    pdf = store.add("atlas.pdf", "pdf", pdf_of(["Maps of Brittany.", "The tide tables of Brest."]))
    scan = store.add("scan.pdf", "pdf", pdf_of(["", ""]))
    word = store.add("memo.docx", "docx", docx_of(["The harbour closes at noon."]))
    broken = store.add("broken.docx", "docx", b"PK\x03\x04 this is no zip")
    await read_all(database)

    assert store.get(pdf.id).status == "searchable" and store.get(pdf.id).pages == 2
    hit = store.search("tide tables", [pdf.id])[0]
    assert hit.page == 2 and hit.text == "The tide tables of Brest."
    assert store.get(word.id).status == "searchable"
    assert store.search("harbour", [word.id])
    assert (store.get(scan.id).status, store.get(scan.id).pages) == ("no_text", 2)
    failed = store.get(broken.id)
    assert failed.status == "failed" and failed.error and "not a valid DOCX" in failed.error


async def test_a_read_interrupted_by_a_stop_is_resumed(database: Database) -> None:
    store = DocumentStore(database, "alice")
    stored = store.add("log.txt", "text", b"The keeper relit the lamp at dusk.")
    with database.session() as session:  # a stop while it was being read
        session.execute(
            update(BlobRow).where(BlobRow.sha256 == stored.sha256).values(status="extracting")
        )
    await read_all(database)  # a new run
    assert store.get(stored.id).status == "searchable"
    assert store.search("lamp", [stored.id])


async def test_deleting_a_file_while_it_is_read_cancels_it(database: Database) -> None:
    store, contents = DocumentStore(database, "alice"), DocumentContents(database)
    stored = store.add("draft.txt", "text", b"canary-9052 in a draft")
    assert contents.begin(stored.sha256) is not None  # the reader has taken it ...
    store.delete(stored.id)  # ... when its owner deletes it
    Ingestor(contents).ingest(stored.sha256)  # the reader goes on: nothing comes back
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(BlobRow)) == 0
        assert session.scalar(select(func.count()).select_from(PassageRow)) == 0


def test_the_reading_thread_runs_at_a_lower_priority() -> None:
    seen: list[int] = []

    def work() -> None:
        lower_priority()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [min(19, mine + BACKGROUND_NICENESS)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # only that thread
