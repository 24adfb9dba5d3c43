"""The import queue and its jobs on SQLite and Postgres: one owner's jobs only; a job lost with
its server (no progress for ``STALE_AFTER``) reads as failed; stopping the server fails the
jobs still waiting and removes their uploads; a running import stopped half way is taken
back."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from causerie.chat import import_queue
from causerie.chat.import_queue import STOPPED, ImportQueue
from causerie.errors import NotFoundError
from causerie.storage import Database
from causerie.storage.import_jobs import LOST, STALE_AFTER, ImportJobStore
from causerie.storage.tables import ImportJobRow, utcnow
from causerie.types import LOCAL_OWNER
from tests.archive.chatgpt_factory import bulk_conversations, export_zip
from tests.chat.imports import row_counts


def test_jobs_are_their_owner_s_and_a_lost_one_reads_failed(database: Database) -> None:
    jobs = ImportJobStore(database, "alice")
    job = jobs.create("x" * 300 + ".zip")
    assert (job.state, job.done, job.total, len(job.filename)) == ("queued", 0, None, 255)
    with pytest.raises(NotFoundError):
        ImportJobStore(database, "bob").get(job.id)
    ImportJobStore(database, "bob").fail(job.id, "not yours")  # changes nothing
    jobs.start(job.id)
    jobs.progress(job.id, 2, 5)
    assert (jobs.get(job.id).state, jobs.get(job.id).done, jobs.get(job.id).total) == (
        "running",
        2,
        5,
    )
    with database.session() as session:
        long_ago = utcnow() - STALE_AFTER - timedelta(seconds=5)
        session.execute(
            update(ImportJobRow).where(ImportJobRow.id == job.id).values(updated_at=long_ago)
        )
    lost = jobs.get(job.id)
    assert (lost.state, lost.error) == ("failed", LOST) and lost.finished_at is not None
    jobs.finish(job.id, {"total": 5, "created": 5})
    done = jobs.get(job.id)
    assert (done.state, done.done, done.summary) == ("done", 5, {"total": 5, "created": 5})


def test_stopping_takes_back_the_running_import_and_fails_the_waiting(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = row_counts(database)
    export = export_zip(list(bulk_conversations(120, 4)))
    uploads = [tmp_path / f"{n}.zip" for n in range(3)]
    for path in uploads:
        path.write_bytes(export)
    imports = ImportQueue(database, max_attachment_bytes=1024)
    written = threading.Event()
    recorded = ImportJobStore.progress

    def record_then_hold(
        store: ImportJobStore, job_id: str, done: int, total: int, waiting: Sequence[str] = ()
    ) -> None:
        """Once the first batch is written, hold the import until the server stops."""
        recorded(store, job_id, done, total, waiting)
        if done:
            written.set()
            while not imports._stopping.is_set():
                time.sleep(0.01)

    monkeypatch.setattr(ImportJobStore, "progress", record_then_hold)
    monkeypatch.setattr(import_queue, "PROGRESS_EVERY", 0.0)  # every batch is recorded
    running, *waiting = [imports.submit(LOCAL_OWNER, p.name, p) for p in uploads]
    assert written.wait(60)
    imports.close()
    jobs = ImportJobStore(database, LOCAL_OWNER)
    assert jobs.get(running.id).state == "failed" and jobs.get(running.id).error == STOPPED
    assert [jobs.get(job.id).error for job in waiting] == [STOPPED, STOPPED]
    assert not any(path.exists() for path in uploads)
    counts = row_counts(database)
    assert counts.pop("import_jobs") == before.pop("import_jobs") + 3
    assert counts == before  # the batches written were taken back
