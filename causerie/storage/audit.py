"""The audit log: admin actions and sign-in attempts, newest first.

Failed sign-ins are also what login throttling counts, so throttling holds across replicas.
Details never carry secrets (no passwords, no key text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select

from causerie.storage.db import Database
from causerie.storage.tables import AuditRow, utcnow

__all__ = ["AuditEvent", "AuditLog", "FailedLogins"]

LOGIN_FAILED = "login.failed"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    target: str
    ip: str
    detail: str


@dataclass(frozen=True, slots=True)
class FailedLogins:
    """Failed sign-ins within a window, counted the ways throttling needs them."""

    for_user: int  # this username, from anywhere
    from_address: int  # this address, any username
    for_user_from_address: int
    last_for_user: datetime | None  # the newest failure for this username


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self, actor: str, action: str, target: str = "", *, ip: str = "", detail: str = ""
    ) -> None:
        with self._db.session() as session:
            session.add(
                AuditRow(
                    at=utcnow(),
                    actor=actor[:64],
                    action=action[:32],
                    target=target[:200],
                    ip=ip[:64],
                    detail=detail,
                )
            )

    def recent(self, limit: int = 200, *, action: str | None = None) -> list[AuditEvent]:
        query = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
        if action is not None:
            query = query.where(AuditRow.action == action)
        with self._db.session() as session:
            return [
                AuditEvent(row.at, row.actor, row.action, row.target, row.ip, row.detail)
                for row in session.scalars(query)
            ]

    def failed_logins(self, *, username: str, ip: str, within: timedelta) -> FailedLogins:
        """Failed sign-ins in the last ``within`` for this username and from this address."""
        since = utcnow() - within
        name, address = username[:64], ip[:64]
        base = select(AuditRow.actor, AuditRow.ip, AuditRow.at).where(
            AuditRow.action == LOGIN_FAILED,
            AuditRow.at >= since,
            or_(AuditRow.actor == name, AuditRow.ip == address),
        )
        with self._db.session() as session:
            rows = session.execute(base.limit(1000)).all()
        # SQLite gives back naive datetimes (stored in UTC), Postgres aware ones
        mine = [
            at if at.tzinfo else at.replace(tzinfo=UTC) for actor, _, at in rows if actor == name
        ]
        return FailedLogins(
            for_user=len(mine),
            from_address=sum(1 for _, row_ip, _ in rows if row_ip == address),
            for_user_from_address=sum(
                1 for a, row_ip, _ in rows if a == name and row_ip == address
            ),
            last_for_user=max(mine, default=None),
        )

    def count(self) -> int:
        with self._db.session() as session:
            return int(session.scalar(select(func.count()).select_from(AuditRow)) or 0)
