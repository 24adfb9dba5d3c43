"""Retention: how long conversations are kept, which ones are past it, and erasing them.

The site's policy lives in ``site_settings`` (``retention_days``: a number of days, absent or
empty when off, the default; ``retention_keep_pinned``: "1" or "0"); a group may have a period
of its own (``user_groups.retention_days``: days, 0 for "kept forever", None for the site's).

A conversation is past its period when neither its last update nor its import (an imported
conversation keeps its old dates from the export) is within it. ``claim_run`` lets only one
replica purge per interval: a compare-and-set on the ``retention_last_run`` setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from causerie.storage.db import Database
from causerie.storage.erasure import Erased, erase_conversations
from causerie.storage.tables import (
    ConversationImportRow,
    ConversationRow,
    GroupRow,
    SiteSettingRow,
    UserRow,
)

__all__ = ["RetentionPolicy", "RetentionStore"]

DAYS = "retention_days"
KEEP_PINNED = "retention_keep_pinned"
LAST_RUN = "retention_last_run"
MAX_DAYS = 100 * 366


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """The site's period (None: off) and the groups' own (0: kept forever)."""

    days: int | None = None
    keep_pinned: bool = True
    groups: Mapping[str, int] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.days) or any(self.groups.values())

    def days_for(self, group: str | None) -> int | None:
        """The period of a member of ``group`` (None: kept forever)."""
        if group is not None and group in self.groups:
            return self.groups[group] or None
        return self.days


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class RetentionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the policy ------------------------------------------------------------------------------

    def policy(self) -> RetentionPolicy:
        with self._db.session() as session:
            chosen = select(SiteSettingRow.name, SiteSettingRow.value).where(
                SiteSettingRow.name.in_([DAYS, KEEP_PINNED])
            )
            settings = {name: value for name, value in session.execute(chosen)}
            groups = session.execute(
                select(GroupRow.name, GroupRow.retention_days).where(
                    GroupRow.retention_days.is_not(None)
                )
            )
            days = settings.get(DAYS, "")
            return RetentionPolicy(
                int(days) if days.isdigit() and int(days) > 0 else None,
                settings.get(KEEP_PINNED, "1") != "0",
                {name: int(value or 0) for name, value in groups},
            )

    def set_policy(self, days: int | None, keep_pinned: bool) -> None:
        with self._db.session() as session:
            for name, value in (
                (DAYS, str(days or "")),
                (KEEP_PINNED, "1" if keep_pinned else "0"),
            ):
                row = session.get(SiteSettingRow, name)
                if row is None:
                    session.add(SiteSettingRow(name=name, value=value))
                else:
                    row.value = value

    def set_group_days(self, group: str, days: int | None) -> None:
        """A group's own period (0: kept forever; None: the site's); creates the group."""
        with self._db.session() as session:
            row = session.get(GroupRow, group)
            if row is None:
                session.add(GroupRow(name=group, models=None, retention_days=days))
            else:
                row.retention_days = days

    def group_of(self, owner: str) -> str | None:
        with self._db.reading() as connection:
            return connection.scalar(select(UserRow.group_name).where(UserRow.id == owner))

    def expires_at(
        self, policy: RetentionPolicy, owner: str, conversation_id: str
    ) -> datetime | None:
        """When the conversation will be erased under ``policy`` (None: never)."""
        days = policy.days_for(self.group_of(owner))
        if days is None:
            return None
        query = (
            select(
                ConversationRow.updated_at,
                ConversationRow.pinned,
                ConversationImportRow.imported_at,
            )
            .outerjoin(ConversationImportRow)
            .where(ConversationRow.id == conversation_id, ConversationRow.owner_id == owner)
        )
        with self._db.session() as session:
            found = session.execute(query).first()
        if found is None or (found.pinned and policy.keep_pinned):
            return None
        last = max(_utc(found.updated_at), _utc(found.imported_at or found.updated_at))
        return last + timedelta(days=days)

    # -- purging ---------------------------------------------------------------------------------

    def expired(
        self, policy: RetentionPolicy, now: datetime, limit: int = 200
    ) -> list[tuple[str, str]]:
        """Up to ``limit`` (owner, conversation id) past their period at ``now``."""
        overridden = list(policy.groups)
        members = select(UserRow.id).where(UserRow.group_name.in_(overridden))
        classes = [
            (ConversationRow.owner_id.not_in(members), policy.days),
            *(
                (
                    ConversationRow.owner_id.in_(
                        select(UserRow.id).where(UserRow.group_name == name)
                    ),
                    days or None,
                )
                for name, days in policy.groups.items()
            ),
        ]
        found: list[tuple[str, str]] = []
        with self._db.session() as session:
            for who, days in classes:
                if days is None or len(found) >= limit:
                    continue
                cutoff = now - timedelta(days=days)
                recent_import = exists().where(
                    ConversationImportRow.conversation_id == ConversationRow.id,
                    ConversationImportRow.imported_at >= cutoff,
                )
                query = select(ConversationRow.owner_id, ConversationRow.id).where(
                    who, ConversationRow.updated_at < cutoff, ~recent_import
                )
                if policy.keep_pinned:
                    query = query.where(ConversationRow.pinned.is_(False))
                found += [(o, c) for o, c in session.execute(query.limit(limit - len(found)))]
        return found

    def erase(self, expired: Sequence[tuple[str, str]]) -> dict[str, Erased]:
        """Erase these conversations (all they hold), in one transaction; counts by owner."""
        by_owner: dict[str, list[str]] = {}
        for owner, conversation_id in expired:
            by_owner.setdefault(owner, []).append(conversation_id)
        with self._db.session() as session:
            return {owner: erase_conversations(session, ids) for owner, ids in by_owner.items()}

    def usernames(self, owners: Sequence[str]) -> dict[str, str]:
        with self._db.session() as session:
            query = select(UserRow.id, UserRow.username).where(UserRow.id.in_(owners))
            return {owner: name for owner, name in session.execute(query)}

    def claim_run(self, now: datetime, interval: timedelta) -> bool:
        """Whether this replica runs the purge now: nobody did within ``interval`` (less a
        tenth, for timers that wake a little early), and no other replica claimed it first."""
        stamp = now.astimezone(UTC).isoformat()
        try:
            with self._db.session() as session:
                row = session.get(SiteSettingRow, LAST_RUN)
                if row is None:
                    session.add(SiteSettingRow(name=LAST_RUN, value=stamp))
                    return True
                last = datetime.fromisoformat(row.value)
                if now - _utc(last) < interval * 0.9:
                    return False
                claimed = session.execute(
                    update(SiteSettingRow)
                    .where(SiteSettingRow.name == LAST_RUN, SiteSettingRow.value == row.value)
                    .values(value=stamp)
                    .execution_options(synchronize_session=False)
                )
                return bool(getattr(claimed, "rowcount", 0))
        except (IntegrityError, OperationalError):  # another replica claimed it a moment before
            return False
