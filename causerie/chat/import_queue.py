"""Imports uploaded through the API, run one at a time by this server, in the background.

    job = queue.submit(owner, "export.zip", spooled_path)  # queued; the caller answers 202

The upload arrives as a private temporary file (the route spooled it); the queue owns it from
then on and removes it once its import ended, however it ended. A single worker thread takes
the jobs in turn, so that an import (which blocks: reading a zip, writing batches) never runs
on the event loop and two large imports never compete for the one SQLite writer. Its state,
progress and summary go to the job's row (``ImportJobStore``), which any replica reads.

Stopping the server stops the running import at its next batch: what it wrote is taken back
(the importer's journal) and the job fails saying so; jobs still waiting fail the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from pathlib import Path

from causerie.archive import ZipLimits
from causerie.chat.importer import run_import
from causerie.config import Settings
from causerie.errors import CauserieError
from causerie.storage.db import Database
from causerie.storage.import_jobs import ImportJobStore
from causerie.storage.imports import ImportStore
from causerie.types import ImportJob

__all__ = ["ImportQueue", "import_limits"]

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5  # seconds between two writes of a job's progress
STOPPED = "The server stopped before this import finished; nothing was imported. Upload it again."


def import_limits(settings: Settings) -> ZipLimits:
    """The limits an upload is read within, from the settings."""
    return ZipLimits(max_conversation_bytes=settings.max_import_conversation_mb * 1024**2)


class _Stopped(Exception):
    """Raised into a running import when the server stops."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Work:
    job_id: str
    owner: str
    path: Path


class ImportQueue:
    """This server's imports, in the order they came."""

    def __init__(
        self,
        database: Database,
        *,
        max_attachment_bytes: int,
        limits: ZipLimits | None = None,
    ) -> None:
        self._db = database
        self._max_attachment_bytes = max_attachment_bytes
        self._limits = limits
        self._work: queue.Queue[_Work | None] = queue.Queue()
        self._waiting: dict[str, _Work] = {}  # queued here, not started yet
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, owner: str, filename: str, path: Path) -> ImportJob:
        """Queue the import of ``path`` (which the queue removes once done) for ``owner``."""
        try:
            job = ImportJobStore(self._db, owner).create(filename)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        work = _Work(job.id, owner, path)
        with self._lock:
            if self._stopping.is_set():
                self._end_unstarted(work)
                return ImportJobStore(self._db, owner).get(job.id)
            self._waiting[job.id] = work
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="causerie-imports", daemon=True
                )
                self._thread.start()
        self._work.put(work)
        return job

    def close(self, timeout: float = 30.0) -> None:
        """Stop: the running import is taken back at its next batch, waiting ones fail."""
        with self._lock:
            self._stopping.set()
            thread = self._thread
            for work in self._waiting.values():
                self._end_unstarted(work)
            self._waiting.clear()
        if thread is not None:
            self._work.put(None)
            thread.join(timeout)

    def _end_unstarted(self, work: _Work) -> None:
        work.path.unlink(missing_ok=True)
        ImportJobStore(self._db, work.owner).fail(work.job_id, STOPPED)

    def _run(self) -> None:
        while True:
            work = self._work.get()
            if work is None:
                return
            with self._lock:
                if self._waiting.pop(work.job_id, None) is None:
                    continue  # ended by close() before it started
            try:
                self._import(work)
            except Exception:  # the job says what failed; the worker goes on
                log.exception("import %s: could not record how it ended", work.job_id)
            finally:
                work.path.unlink(missing_ok=True)

    def _import(self, work: _Work) -> None:
        jobs = ImportJobStore(self._db, work.owner)
        jobs.start(work.job_id)
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            if self._stopping.is_set() and done < total:  # at the end, it is all written
                raise _Stopped
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY or done >= total:
                last = now
                with self._lock:
                    waiting = list(self._waiting)
                jobs.progress(work.job_id, done, total, waiting)

        try:
            summary = run_import(
                work.path,
                ImportStore(self._db, work.owner),
                progress,
                limits=self._limits,
                max_attachment_bytes=self._max_attachment_bytes,
            )
        except _Stopped:
            jobs.fail(work.job_id, STOPPED)
        except CauserieError as exc:  # a bad upload (ImportFormatError) first of all
            jobs.fail(work.job_id, f"{exc.message} Nothing was imported.")
        except Exception as exc:
            log.exception("import %s failed", work.job_id)
            jobs.fail(
                work.job_id,
                f"The import failed ({type(exc).__name__}); nothing was imported. "
                "The server's log says more.",
            )
        else:
            record = dataclasses.asdict(summary)
            record["imported"] = summary.imported
            jobs.finish(work.job_id, record)
