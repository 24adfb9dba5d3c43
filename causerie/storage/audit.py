"""The audit log: admin actions and sign-in attempts, newest first.

Failed sign-ins are also what login throttling counts, so throttling holds across replicas.
Details never carry secrets (no passwords, no key text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from causerie.storage.db import Database
from causerie.storage.tables import AuditRow, utcnow

__all__ = ["AuditEvent", "AuditLog"]

LOGIN_FAILED = "login.failed"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    target: str
    ip: str
    detail: str


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

    def failed_logins(self, *, username: str, ip: str, within: timedelta) -> tuple[int, int]:
        """Failed sign-ins in the last ``within``: (for this username, from this address)."""
        since = utcnow() - within
        base = select(AuditRow.actor, AuditRow.ip).where(
            AuditRow.action == LOGIN_FAILED,
            AuditRow.at >= since,
            or_(AuditRow.actor == username[:64], AuditRow.ip == ip[:64]),
        )
        with self._db.session() as session:
            rows = session.execute(base.limit(1000)).all()
        return (
            sum(1 for actor, _ in rows if actor == username[:64]),
            sum(1 for _, address in rows if address == ip[:64]),
        )

    def count(self) -> int:
        with self._db.session() as session:
            return int(session.scalar(select(func.count()).select_from(AuditRow)) or 0)
