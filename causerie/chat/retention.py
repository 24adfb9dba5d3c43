"""Retention: the admin's policy, when a conversation will expire, and the background purge.

    retention = Retention(database, interval=3600)
    retention.start()          # on the server's loop: purges every interval, on one replica
    retention.purge(now)       # what the task runs: erase what is past its period, audit it
    retention.expire_import_jobs(now)  # and, policy or not: forget import jobs a day old

The purge erases for real (``storage/erasure.py``: messages, attachments, files, shares...),
in batches, then checkpoints SQLite's log. Each purge that erased something writes one audit
event per owner: the numbers of conversations and messages, the period and the group; never
a title or a word of content. Several replicas may run the task: ``claim_run`` lets one of them
purge per interval, and erasing what another replica erased a moment before erases nothing.

The same task deletes the import jobs that ended a day ago (``storage/import_jobs.py``), on
every replica and whatever the policy: a job's summary holds words of the export.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from anyio import to_thread

from causerie.errors import InvalidRequestError
from causerie.storage.audit import AuditLog
from causerie.storage.db import Database
from causerie.storage.erasure import Erased
from causerie.storage.import_jobs import expire as expire_jobs
from causerie.storage.retention import MAX_DAYS, RetentionPolicy, RetentionStore
from causerie.storage.tables import LOCAL_OWNER, utcnow

__all__ = ["PURGE_ACTION", "Purged", "Retention"]

log = logging.getLogger(__name__)

ACTOR = "retention"
PURGE_ACTION = "retention.purge"
BATCH = 200  # conversations erased per transaction


@dataclass(frozen=True, slots=True)
class Purged:
    """What one purge erased of one owner's."""

    owner: str
    username: str
    erased: Erased


def checked_days(days: int | None, *, forever: bool = False) -> int | None:
    """A period the forms may set: 1 to ``MAX_DAYS`` days (0 too, for a group: forever)."""
    if days is None or (forever and days == 0):
        return days
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRequestError(
            f"A retention period is 1 to {MAX_DAYS} days; leave it blank for none.",
            param="days",
        )
    return days


class Retention:
    def __init__(self, database: Database, *, interval: float = 3600.0) -> None:
        self._db = database
        self.store = RetentionStore(database)
        self.audit = AuditLog(database)
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    # -- the policy (the admin pages and the CLI come here: one audit record per change) -------

    def policy(self) -> RetentionPolicy:
        return self.store.policy()

    def set_policy(self, actor: str, days: int | None, *, keep_pinned: bool) -> None:
        self.store.set_policy(checked_days(days), keep_pinned)
        pinned = "pinned kept" if keep_pinned else "pinned too"
        detail = f"{days} days, {pinned}" if days else "off"
        self.audit.record(actor, "retention.policy", detail=detail)

    def set_group_days(self, actor: str, group: str, days: int | None) -> None:
        self.store.set_group_days(group, checked_days(days, forever=True))
        detail = "site policy" if days is None else ("forever" if days == 0 else f"{days} days")
        self.audit.record(actor, "retention.group", group, detail=detail)

    def expires_at(self, owner: str, conversation_id: str) -> datetime | None:
        """When this conversation will be erased (None: never, or no policy)."""
        policy = self.store.policy()
        if not policy.active:
            return None
        return self.store.expires_at(policy, owner, conversation_id)

    # -- the purge ------------------------------------------------------------------------------

    def purge(self, now: datetime | None = None) -> list[Purged]:
        """Erase every conversation past its period at ``now``; audit what went, by owner."""
        now = now or utcnow()
        policy = self.store.policy()
        if not policy.active:
            return []
        totals: dict[str, Erased] = {}
        previous: list[tuple[str, str]] = []
        while batch := self.store.expired(policy, now, BATCH):
            if batch == previous:  # erased nothing: never loop on it
                log.warning("retention: %d conversations could not be erased", len(batch))
                break
            for owner, erased in self.store.erase(batch).items():
                totals[owner] = totals.get(owner, Erased()) + erased
            previous = batch
        if not totals:
            return []
        self._db.flush_erased()
        names = self.store.usernames(list(totals))
        purged = []
        for owner, erased in totals.items():
            if not erased.conversations:
                continue  # another replica erased them first
            username = names.get(owner, "local" if owner == LOCAL_OWNER else owner)
            group = self.store.group_of(owner)
            days = policy.days_for(group)
            detail = (
                f"{erased.conversations} conversations, {erased.messages} messages; "
                f"{days} days" + (f", group {group}" if group else "")
            )
            self.audit.record(ACTOR, PURGE_ACTION, username, detail=detail)
            purged.append(Purged(owner, username, erased))
        return purged

    def run_if_due(self, now: datetime | None = None) -> list[Purged]:
        """Purge if a policy is set and no replica did within the interval."""
        now = now or utcnow()
        if not self.store.policy().active:
            return []
        if not self.store.claim_run(now, timedelta(seconds=self.interval)):
            return []
        return self.purge(now)

    def expire_import_jobs(self, now: datetime | None = None) -> int:
        """Delete the import jobs that ended a day before ``now``; how many."""
        return expire_jobs(self._db, now)

    def start(self) -> None:
        """Purge now and every ``interval`` seconds on the running loop, until ``close``;
        expire import jobs at the same pace."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="retention")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                purged = await to_thread.run_sync(self.run_if_due)
                if purged:
                    count = sum(p.erased.conversations for p in purged)
                    log.info("retention: erased %d conversations", count)
            except Exception:  # the database failed: try again at the next interval
                log.exception("retention purge failed")
            try:
                await to_thread.run_sync(self.expire_import_jobs)
            except Exception:
                log.exception("expiring import jobs failed")
            await asyncio.sleep(self.interval)
