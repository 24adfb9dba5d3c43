"""Usage counters and per-user limits, exact across replicas because the database does the
counting.

- ``UsageLedger.record`` adds a finished (or interrupted) reply to its (day, user, key, model)
  row with one ``INSERT … ON CONFLICT DO UPDATE SET n = n + …``: no read-modify-write race.
- ``QuotaBook.admit`` checks and takes, in one transaction, a request against the user's
  tokens-per-day, requests-per-minute (a counter per user and minute) and concurrent-requests
  (a lease row per request in flight) limits. On Postgres the user's row is locked for the
  transaction, on SQLite the first statement is a write, which takes the database's write lock:
  two replicas admitting the same user at the same moment queue, they do not both squeeze in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from causerie.errors import QuotaExceededError
from causerie.storage.db import Database
from causerie.storage.tables import LeaseRow, RateWindowRow, UsageRow, UserRow, utcnow
from causerie.storage.users import Limits

__all__ = ["QuotaBook", "UsageLedger", "UsageLine"]

LEASE_LIFETIME = timedelta(minutes=15)  # a lease outlives its request only if a replica died


@dataclass(frozen=True, slots=True)
class UsageLine:
    day: date
    user_id: str
    username: str
    key_id: str  # "" for the web page and the terminal
    model: str
    requests: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _insert(db: Database) -> Any:
    return sqlite.insert if db.is_sqlite else postgresql.insert


def wait_text(seconds: float) -> str:
    """How long to wait, said plainly ("Try again in 42 seconds.")."""
    seconds = max(1, round(seconds))
    if seconds < 120:
        return f"Try again in {seconds} seconds."
    if seconds < 7200:
        return f"Try again in {round(seconds / 60)} minutes."
    return f"Try again in {round(seconds / 3600)} hours."


def _requests(count: int) -> str:
    return f"{count} request" if count == 1 else f"{count} requests"


def today() -> date:
    return datetime.now(UTC).date()


class UsageLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        user_id: str,
        key_id: str,
        model: str,
        *,
        prompt_tokens: int,
        cached_tokens: int,
        completion_tokens: int,
        day: date | None = None,
    ) -> None:
        """Count one request and its tokens."""
        values = {
            "day": day or today(),
            "user_id": user_id,
            "key_id": key_id,
            "model": model[:200],
            "requests": 1,
            "prompt_tokens": prompt_tokens,
            "cached_tokens": cached_tokens,
            "completion_tokens": completion_tokens,
        }
        statement = _insert(self._db)(UsageRow).values(**values)
        counters = ("requests", "prompt_tokens", "cached_tokens", "completion_tokens")
        statement = statement.on_conflict_do_update(
            index_elements=["day", "user_id", "key_id", "model"],
            set_={name: getattr(UsageRow, name) + statement.excluded[name] for name in counters},
        )
        with self._db.session() as session:
            session.execute(statement)

    def tokens_on(self, session: Session, user_id: str, day: date) -> int:
        query = select(
            func.coalesce(func.sum(UsageRow.prompt_tokens + UsageRow.completion_tokens), 0)
        ).where(UsageRow.user_id == user_id, UsageRow.day == day)
        return int(session.scalar(query) or 0)

    def lines(self, *, since: date, user_id: str | None = None) -> list[UsageLine]:
        """Every counter row from ``since`` on (one user's, or everyone's), newest day first."""
        query = (
            select(UsageRow, UserRow.username)
            .outerjoin(UserRow, UserRow.id == UsageRow.user_id)
            .where(UsageRow.day >= since)
            .order_by(UsageRow.day.desc(), UserRow.username, UsageRow.model, UsageRow.key_id)
        )
        if user_id is not None:
            query = query.where(UsageRow.user_id == user_id)
        with self._db.session() as session:
            return [
                UsageLine(
                    row.day,
                    row.user_id,
                    username or row.user_id,
                    row.key_id,
                    row.model,
                    row.requests,
                    row.prompt_tokens,
                    row.cached_tokens,
                    row.completion_tokens,
                )
                for row, username in session.execute(query)
            ]


class QuotaBook:
    """Admits requests against per-user limits; ``release`` ends a request's lease."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._ledger = UsageLedger(db)

    def admit(self, user_id: str, limits: Limits) -> tuple[str | None, int | None]:
        """Take a request for ``user_id``. Returns ``(lease id, tokens left today)`` (None for
        a limit not set); raises ``QuotaExceededError`` with the wait until it would pass."""
        if limits == Limits():
            return None, None
        now = utcnow()
        minute = int(now.timestamp()) // 60
        with self._db.session() as session:
            # First a write (SQLite: the write lock), then the user's row lock (Postgres).
            window = _insert(self._db)(RateWindowRow).values(
                user_id=user_id, minute=minute, requests=1
            )
            window = window.on_conflict_do_update(
                index_elements=["user_id", "minute"],
                set_={"requests": RateWindowRow.requests + 1},
            ).returning(RateWindowRow.requests)
            started = int(session.execute(window).scalar_one())
            if not self._db.is_sqlite:
                session.execute(select(UserRow.id).where(UserRow.id == user_id).with_for_update())
            left = None
            if limits.tokens_per_day is not None:
                left = limits.tokens_per_day - self._ledger.tokens_on(session, user_id, now.date())
                if left <= 0:
                    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
                    wait = (midnight.replace(tzinfo=UTC) - now).total_seconds()
                    raise QuotaExceededError(
                        f"You have used your {limits.tokens_per_day} tokens for today. "
                        + wait_text(wait),
                        retry_after=wait,
                        code="tokens_per_day_exceeded",
                    )
            if limits.requests_per_minute is not None and started > limits.requests_per_minute:
                wait = 60 - now.timestamp() % 60
                raise QuotaExceededError(
                    f"You can start {_requests(limits.requests_per_minute)} a minute. "
                    + wait_text(wait),
                    retry_after=wait,
                    code="requests_per_minute_exceeded",
                )
            session.execute(
                delete(RateWindowRow).where(
                    RateWindowRow.user_id == user_id, RateWindowRow.minute < minute
                )
            )
            if limits.concurrent_requests is None:
                return None, left
            session.execute(
                delete(LeaseRow).where(LeaseRow.user_id == user_id, LeaseRow.expires_at <= now)
            )
            running = session.scalar(
                select(func.count()).select_from(LeaseRow).where(LeaseRow.user_id == user_id)
            )
            if int(running or 0) >= limits.concurrent_requests:
                raise QuotaExceededError(
                    f"You can have {_requests(limits.concurrent_requests)} running at once. "
                    "Try again when one has finished.",
                    retry_after=1,
                    code="concurrent_requests_exceeded",
                )
            lease = str(uuid.uuid4())
            session.add(LeaseRow(id=lease, user_id=user_id, expires_at=now + LEASE_LIFETIME))
            return lease, left

    def release(self, lease_id: str) -> None:
        with self._db.session() as session:
            session.execute(delete(LeaseRow).where(LeaseRow.id == lease_id))
