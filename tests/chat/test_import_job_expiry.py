"""Import jobs hold words of the export (skipped titles, custom instructions): a job is
deleted a day after it ended, by the retention task every replica runs, policy or not."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from causerie.chat.retention import Retention
from causerie.errors import NotFoundError
from causerie.storage import Database
from causerie.storage.import_jobs import ImportJobStore
from causerie.storage.tables import ImportJobRow, utcnow

NOW = utcnow()


def job(database: Database, owner: str, state: str, hours_ago: float) -> str:
    """A job in ``state`` whose last move (its end, for a finished one) was ``hours_ago``."""
    jobs = ImportJobStore(database, owner)
    created = jobs.create("export.zip").id
    if state == "done":
        jobs.finish(created, {"total": 1, "skipped": [{"title": "zqxv private title"}]})
    elif state == "failed":
        jobs.fail(created, "bad zip")
    elif state == "running":
        jobs.start(created)
    when = NOW - timedelta(hours=hours_ago)
    values = {"updated_at": when} | ({"finished_at": when} if state in ("done", "failed") else {})
    with database.session() as session:
        session.execute(update(ImportJobRow).where(ImportJobRow.id == created).values(**values))
    return created


def present(jobs: ImportJobStore, job_id: str) -> bool:
    try:
        jobs.get(job_id)
    except NotFoundError:
        return False
    return True


def test_jobs_that_ended_a_day_ago_are_deleted(database: Database) -> None:
    jobs, other = ImportJobStore(database, "owner-a"), ImportJobStore(database, "owner-b")
    old_done, old_failed = (
        job(database, "owner-a", "done", 25),
        job(database, "owner-b", "failed", 25),
    )
    lost = job(database, "owner-a", "running", 30)  # its server died a day ago: reads as failed
    recent = job(database, "owner-a", "done", 23)
    running, queued = job(database, "owner-a", "running", 0), job(database, "owner-a", "queued", 0)
    assert Retention(database).expire_import_jobs(NOW) == 3
    assert not any(present(jobs, j) for j in (old_done, lost)) and not present(other, old_failed)
    assert all(present(jobs, j) for j in (recent, running, queued))
    assert Retention(database).expire_import_jobs(NOW) == 0  # another replica: nothing left


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_background_task_expires_jobs_without_a_retention_policy(database: Database) -> None:
    jobs = ImportJobStore(database, "owner-a")
    old = job(database, "owner-a", "done", 48)

    async def run_once() -> None:
        retention = Retention(database, interval=3600)
        assert not retention.policy().active
        retention.start()
        for _ in range(200):
            await asyncio.sleep(0.02)
            if not present(jobs, old):
                break
        await retention.close()

    asyncio.run(run_once())
    assert not present(jobs, old)
