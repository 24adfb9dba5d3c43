"""A hostile file costs only itself: PDFs and Word files are read in a child process that a
crash or a hang takes down alone; the server goes on, and so does the next file."""

from __future__ import annotations

import os
import time

import pytest

from causerie.retrieval.extract import ExtractLimits
from causerie.retrieval.reader import read_isolated
from causerie.storage import Database
from causerie.storage.documents import DocumentStore
from tests.retrieval.files import pdf_of
from tests.retrieval.hostile import CRASH, HANG, fragile_reader
from tests.retrieval.test_ingest import read_all

LIMITS = ExtractLimits()


def test_a_pdf_is_read_in_a_child_process_and_gives_its_passages() -> None:
    result = read_isolated("pdf", pdf_of(["The tide tables of Brest."]), LIMITS)
    assert result.error is None and result.pages == 1
    assert [p.text for p in result.passages] == ["The tide tables of Brest."]
    broken = read_isolated("pdf", b"%PDF-1.7 not really", LIMITS)
    assert broken.error is not None and "PDF" in broken.error


def test_a_crash_in_the_reader_fails_that_file_only() -> None:
    result = read_isolated("pdf", b"%PDF-1.7 " + CRASH, LIMITS, reader=fragile_reader)
    assert result.error is not None and "PDF reader stop" in result.error
    assert os.getpid()  # this process, the server's, is still here to say so


def test_a_reader_that_never_ends_is_stopped() -> None:
    started = time.monotonic()
    result = read_isolated("docx", b"PK" + HANG, LIMITS, reader=fragile_reader, timeout=1)
    assert result.error is not None and "over 1 seconds" in result.error
    assert time.monotonic() - started < 10


def test_text_is_read_in_process() -> None:
    # a text file is read by Python code: no process to start (the fragile reader's crash
    # would take this test process down, so it is only given harmless text)
    result = read_isolated("text", b"plain words", LIMITS, reader=fragile_reader)
    assert result.error is None and result.passages[0].text == "plain words"


@pytest.mark.anyio
async def test_the_next_file_is_read_after_a_crash(database: Database) -> None:
    store = DocumentStore(database, "alice")
    hostile = store.add("evil.pdf", "pdf", b"%PDF-1.7 " + CRASH)
    fine = store.add("atlas.pdf", "pdf", pdf_of(["Maps of Brittany."]))
    await read_all(database, reader=fragile_reader)
    failed = store.get(hostile.id)
    assert failed.status == "failed" and failed.error and "may be damaged" in failed.error
    assert store.get(fine.id).status == "searchable"
    assert store.search("Brittany", [fine.id])
