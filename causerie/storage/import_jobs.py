"""Import jobs (``import_jobs``): what an export uploaded through the API became, one owner's.

The job lives in the database, not in the memory of the server that took the upload, so that
behind a load balancer any replica answers ``GET /api/imports/{id}`` and a restart does not
forget how an import ended. The work itself runs on the replica that holds the upload; as it
goes it moves the job's ``updated_at``. A job still queued or running whose ``updated_at`` has
not moved for ``STALE_AFTER`` was lost with its server (stopped, crashed): it reads as failed.
Uploading the export again finishes what it began (importing is idempotent).

A job holds words of the export (its summary lists skipped conversations' titles and the
custom instructions found), so it does not outlive its use: ``expire`` deletes every job,
any owner's, whose ``updated_at`` is ``KEEP_FOR`` old, i.e. a day after it ended (or, lost
with its server, a day after it last moved). Deleting is idempotent, so every replica may run it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, update

from causerie.errors import NotFoundError
from causerie.storage.db import Database
from causerie.storage.listing import as_utc
from causerie.storage.tables import LOCAL_OWNER, ImportJobRow, utcnow
from causerie.types import ImportJob, ImportState

__all__ = ["KEEP_FOR", "STALE_AFTER", "ImportJobStore", "expire"]

STALE_AFTER = timedelta(minutes=10)
KEEP_FOR = timedelta(hours=24)
LOST = (
    "The server running this import stopped before it finished. Upload the export again: "
    "nothing is imported twice."
)
NAME_MAX = 255


class ImportJobStore:
    """One owner's import jobs; another owner's are as absent as missing ones."""

    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def create(self, filename: str) -> ImportJob:
        """A new job, queued."""
        now = utcnow()
        row = ImportJobRow(
            id=str(uuid.uuid4()),
            owner_id=self.owner,
            filename=filename[:NAME_MAX],
            state="queued",
            done=0,
            created_at=now,
            updated_at=now,
        )
        with self._db.session() as session:
            session.add(row)
            session.flush()
            return _job(row)

    def get(self, job_id: str) -> ImportJob:
        with self._db.session() as session:
            row = session.get(ImportJobRow, job_id)
            if row is None or row.owner_id != self.owner:
                raise NotFoundError(f"import {job_id} not found")
            return _job(row)

    def start(self, job_id: str) -> None:
        self._set(job_id, state="running")

    def progress(self, job_id: str, done: int, total: int, waiting: Sequence[str] = ()) -> None:
        """How far the job got; the jobs ``waiting`` behind it in this server's queue (any
        owner's) are seen alive too."""
        now = utcnow()
        with self._db.session() as session:
            session.execute(
                update(ImportJobRow)
                .where(ImportJobRow.id == job_id, ImportJobRow.owner_id == self.owner)
                .values(done=done, total=total, updated_at=now)
            )
            if waiting:
                session.execute(
                    update(ImportJobRow)
                    .where(ImportJobRow.id.in_(list(waiting)), ImportJobRow.state == "queued")
                    .values(updated_at=now)
                )

    def finish(self, job_id: str, summary: dict[str, Any]) -> None:
        total = int(summary.get("total", 0))
        text = json.dumps(summary, ensure_ascii=False)
        self._set(job_id, state="done", summary=text, done=total, total=total, finished=True)

    def fail(self, job_id: str, error: str) -> None:
        self._set(job_id, state="failed", error=error, finished=True)

    def _set(self, job_id: str, *, finished: bool = False, **values: Any) -> None:
        now = utcnow()
        if finished:
            values["finished_at"] = now
        with self._db.session() as session:
            session.execute(
                update(ImportJobRow)
                .where(ImportJobRow.id == job_id, ImportJobRow.owner_id == self.owner)
                .values(updated_at=now, **values)
            )


def expire(db: Database, now: datetime | None = None) -> int:
    """Delete the jobs that ended (or stopped moving) ``KEEP_FOR`` before ``now``; how many.
    A job still at work moves its ``updated_at`` every half second, and the ones waiting
    behind it move with it, so only ended or lost jobs are that old."""
    cutoff = (now or utcnow()) - KEEP_FOR
    with db.session() as session:
        result = session.execute(delete(ImportJobRow).where(ImportJobRow.updated_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


def _job(row: ImportJobRow, now: datetime | None = None) -> ImportJob:
    state, error, finished = cast(ImportState, row.state), row.error, row.finished_at
    updated = as_utc(row.updated_at)
    if state in ("queued", "running") and (now or utcnow()) - updated > STALE_AFTER:
        state, error, finished = "failed", LOST, updated
    return ImportJob(
        id=row.id,
        filename=row.filename,
        state=state,
        done=row.done,
        total=row.total,
        summary=json.loads(row.summary) if row.summary else None,
        error=error,
        created_at=as_utc(row.created_at),
        updated_at=updated,
        finished_at=as_utc(finished) if finished else None,
    )
