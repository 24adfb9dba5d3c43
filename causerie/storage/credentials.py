"""Sessions, API keys and invitation links: random tokens of which only a sha256 is stored.

An API key reads ``csk-<id>-<secret>``: the id finds the row, the secret's digest is then
compared in constant time, so neither a database leak nor response timing gives a key away.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from causerie.errors import InvalidRequestError, NotFoundError
from causerie.storage.db import Database
from causerie.storage.tables import ApiKeyRow, InviteRow, SessionRow, UserRow, utcnow
from causerie.storage.users import Account

__all__ = ["ApiKeyInfo", "Credentials", "SignedIn", "digest"]

KEY_PREFIX = "csk-"
SESSION_LIFETIME = timedelta(days=30)
LAST_USED_PRECISION = timedelta(minutes=1)  # a used key is written at most once a minute


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: whose, and the CSRF token its page must send back."""

    account: Account
    csrf_token: str


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    store: bool = True  # a request through it that does not say `store` is stored

    @property
    def hint(self) -> str:
        """How the key is shown after creation: its public part only."""
        return f"{KEY_PREFIX}{self.id}-…"

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKeyInfo:
        revoked = row.revoked_at is not None
        return cls(row.id, row.name, row.created_at, row.last_used_at, revoked, row.store_default)


class Credentials:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- sessions -------------------------------------------------------------------------------

    def start_session(self, user_id: str) -> str:
        """A new session (always a new id: signing in never reuses one). Returns its token."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self._db.session() as session:
            session.add(
                SessionRow(
                    token_hash=digest(token),
                    user_id=user_id,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
        return token

    def session(self, token: str) -> SignedIn | None:
        """The signed-in account, if the session is live and its account active."""
        query = (
            select(SessionRow, UserRow)
            .join(UserRow, UserRow.id == SessionRow.user_id)
            .where(SessionRow.token_hash == digest(token))
        )
        with self._db.session() as session:
            found = session.execute(query).first()
            if found is None:
                return None
            row, user = found
            if _utc(row.expires_at) <= utcnow() or user.status != "active":
                return None
            return SignedIn(Account.of(user), row.csrf_token)

    def end_session(self, token: str) -> None:
        with self._db.session() as session:
            session.execute(delete(SessionRow).where(SessionRow.token_hash == digest(token)))

    def end_sessions(self, user_id: str) -> int:
        with self._db.session() as session:
            result = session.execute(delete(SessionRow).where(SessionRow.user_id == user_id))
            return int(getattr(result, "rowcount", 0) or 0)

    # -- API keys -------------------------------------------------------------------------------

    def create_key(self, user_id: str, name: str, *, store: bool = True) -> tuple[ApiKeyInfo, str]:
        """A new key (``store``: whether a request through it that does not say ``store`` is
        stored); the full key text is returned this once and never stored."""
        name = name.strip()[:100] or "API key"
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        row = ApiKeyRow(
            id=key_id,
            user_id=user_id,
            name=name,
            secret_hash=digest(secret),
            created_at=utcnow(),
            store_default=store,
        )
        with self._db.session() as session:
            session.add(row)
        return ApiKeyInfo.of(row), f"{KEY_PREFIX}{key_id}-{secret}"

    def keys(self, user_id: str) -> list[ApiKeyInfo]:
        query = (
            select(ApiKeyRow)
            .where(ApiKeyRow.user_id == user_id)
            .order_by(ApiKeyRow.created_at.desc())
        )
        with self._db.session() as session:
            return [ApiKeyInfo.of(row) for row in session.scalars(query)]

    def revoke_key(self, user_id: str, key_id: str) -> ApiKeyInfo:
        """Revoke one of the user's keys; another user's key is not found."""
        with self._db.session() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None or row.user_id != user_id:
                raise NotFoundError("API key not found")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return ApiKeyInfo.of(row)

    def key_account(self, key: str) -> tuple[ApiKeyInfo, Account] | None:
        """The key and its account, for a live key of an active account; None otherwise."""
        if not key.startswith(KEY_PREFIX):
            return None
        key_id, _, secret = key.removeprefix(KEY_PREFIX).partition("-")
        query = (
            select(ApiKeyRow, UserRow)
            .join(UserRow, UserRow.id == ApiKeyRow.user_id)
            .where(ApiKeyRow.id == key_id)
        )
        with self._db.session() as session:
            found = session.execute(query).first()
            expected = found[0].secret_hash if found else digest("no such key")
            matches = hmac.compare_digest(digest(secret), expected)
            if found is None or not matches:
                return None
            row, user = found
            if row.revoked_at is not None or user.status != "active":
                return None
            now = utcnow()
            if row.last_used_at is None or now - _utc(row.last_used_at) > LAST_USED_PRECISION:
                session.execute(
                    update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=now)
                )
            return ApiKeyInfo.of(row), Account.of(user)

    # -- invitations ----------------------------------------------------------------------------

    def create_invite(self, created_by: str, *, days: int = 7) -> str:
        token = secrets.token_urlsafe(24)
        now = utcnow()
        with self._db.session() as session:
            session.add(
                InviteRow(
                    token_hash=digest(token),
                    created_by=created_by,
                    created_at=now,
                    expires_at=now + timedelta(days=days),
                )
            )
        return token

    def invite_valid(self, token: str) -> bool:
        with self._db.session() as session:
            row = session.get(InviteRow, digest(token))
            return row is not None and row.used_by is None and _utc(row.expires_at) > utcnow()

    def use_invite(self, token: str, user_id: str) -> None:
        """Mark the invitation used by ``user_id``; a used or expired one is refused."""
        with self._db.session() as session:
            result = session.execute(
                update(InviteRow)
                .where(
                    InviteRow.token_hash == digest(token),
                    InviteRow.used_by.is_(None),
                    InviteRow.expires_at > utcnow(),
                )
                .values(used_by=user_id)
            )
            if not getattr(result, "rowcount", 0):
                raise InvalidRequestError(
                    "This invitation link is not valid any more.", param="invite"
                )
