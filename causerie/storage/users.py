"""Accounts and groups: who exists, their role, status, model restrictions and limits.

Passwords arrive here already hashed (``auth/passwords.py`` hashes); this module only stores.
Disabling an account ends its sessions and revokes its API keys in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from causerie.errors import ConflictError, InvalidRequestError, NotFoundError
from causerie.storage.db import Database
from causerie.storage.erasure import Erased, erase_owner
from causerie.storage.tables import (
    LOCAL_OWNER,
    ApiKeyRow,
    ConversationImportRow,
    ConversationRow,
    GroupRow,
    PreferenceRow,
    SessionRow,
    SiteSettingRow,
    UserRow,
    utcnow,
)

__all__ = ["Account", "Limits", "Role", "Status", "UserStore"]

Role = Literal["admin", "user"]
Status = Literal["active", "pending", "disabled"]
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-@")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-user limits; None means no limit."""

    tokens_per_day: int | None = None
    requests_per_minute: int | None = None
    concurrent_requests: int | None = None


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    username: str
    role: Role
    status: Status
    group: str | None
    models: tuple[str, ...] | None  # the user's own restriction; None: the group's, or all
    limits: Limits
    created_at: datetime

    @classmethod
    def of(cls, row: UserRow) -> Account:
        return cls(
            row.id,
            row.username,
            "admin" if row.role == "admin" else "user",
            row.status if row.status in ("active", "pending", "disabled") else "disabled",  # type: ignore[arg-type]
            row.group_name,
            _models(row.models),
            Limits(row.tokens_per_day, row.requests_per_minute, row.concurrent_requests),
            row.created_at,
        )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _models(raw: str | None) -> tuple[str, ...] | None:
    return None if raw is None else tuple(json.loads(raw))


def normalize_username(name: str) -> str:
    """Usernames are compared lowercased; letters, digits and ``._-@`` only, 1–64 long."""
    name = name.strip().lower()
    if not 1 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise InvalidRequestError(
            "A username is 1 to 64 letters, digits or the characters . _ - @",
            param="username",
        )
    return name


ANY_USER = select(exists().where(UserRow.id.is_not(None)))  # built once: read on every request


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def any(self) -> bool:
        """Whether accounts exist: the server is then multi-user and every request signs in."""
        with self._db.reading() as connection:
            return bool(connection.scalar(ANY_USER))

    def count_admins(self) -> int:
        query = select(func.count()).where(UserRow.role == "admin", UserRow.status == "active")
        with self._db.session() as session:
            return int(session.scalar(query) or 0)

    def create(
        self, username: str, password_hash: str, *, role: Role = "user", status: Status = "active"
    ) -> Account:
        """A new account. The first admin adopts what the single local user had stored."""
        row = UserRow(
            id=str(uuid.uuid4()),
            username=normalize_username(username),
            password_hash=password_hash,
            role=role,
            status=status,
            created_at=utcnow(),
        )
        try:
            with self._db.session() as session:
                first_admin = role == "admin" and not session.scalar(
                    select(exists().where(UserRow.role == "admin"))
                )
                session.add(row)
                session.flush()
                if first_admin:
                    session.execute(
                        update(ConversationRow)
                        .where(ConversationRow.owner_id == LOCAL_OWNER)
                        .values(owner_id=row.id)
                    )
                    session.execute(
                        update(PreferenceRow)
                        .where(PreferenceRow.owner_id == LOCAL_OWNER)
                        .values(owner_id=row.id)
                    )
                    session.execute(
                        update(ConversationImportRow)
                        .where(ConversationImportRow.owner_id == LOCAL_OWNER)
                        .values(owner_id=row.id)
                    )
                return Account.of(row)
        except IntegrityError as exc:
            raise ConflictError(
                f"The username {row.username!r} is taken.", param="username"
            ) from exc

    def get(self, user_id: str) -> Account:
        with self._db.session() as session:
            row = session.get(UserRow, user_id)
            if row is None:
                raise NotFoundError("user not found")
            return Account.of(row)

    def credentials(self, username: str) -> tuple[Account, str] | None:
        """The account and its password hash, for signing in; None if there is no such user."""
        try:
            name = normalize_username(username)
        except InvalidRequestError:
            return None
        with self._db.session() as session:
            row = session.scalar(select(UserRow).where(UserRow.username == name))
            return None if row is None else (Account.of(row), row.password_hash)

    def by_username(self, username: str) -> Account:
        found = self.credentials(username)
        if found is None:
            raise NotFoundError(f"There is no user {username!r}.")
        return found[0]

    def all(self) -> list[Account]:
        with self._db.session() as session:
            return [Account.of(r) for r in session.scalars(select(UserRow).order_by("username"))]

    def set_password(self, user_id: str, password_hash: str, *, end_sessions: bool) -> None:
        with self._db.session() as session:
            self._row(session, user_id).password_hash = password_hash
            if end_sessions:
                session.execute(delete(SessionRow).where(SessionRow.user_id == user_id))

    def delete(self, user_id: str) -> Erased:
        """Erase the account and every row that holds its content (``erasure.erase_owner``);
        what it erased, counted."""
        with self._db.session() as session:
            self._row(session, user_id)
            erased = erase_owner(session, user_id)
        self._db.flush_erased()
        return erased

    def set_status(self, user_id: str, status: Status) -> Account:
        """Disabling ends every session and revokes every key of the user at once."""
        with self._db.session() as session:
            row = self._row(session, user_id)
            row.status = status
            if status == "disabled":
                session.execute(delete(SessionRow).where(SessionRow.user_id == user_id))
                session.execute(
                    update(ApiKeyRow)
                    .where(ApiKeyRow.user_id == user_id, ApiKeyRow.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                )
            return Account.of(row)

    def set_role(self, user_id: str, role: Role) -> Account:
        with self._db.session() as session:
            row = self._row(session, user_id)
            row.role = role
            return Account.of(row)

    def set_limits(self, user_id: str, limits: Limits) -> Account:
        with self._db.session() as session:
            row = self._row(session, user_id)
            row.tokens_per_day = limits.tokens_per_day
            row.requests_per_minute = limits.requests_per_minute
            row.concurrent_requests = limits.concurrent_requests
            return Account.of(row)

    def set_models(self, user_id: str, models: list[str] | None) -> Account:
        with self._db.session() as session:
            row = self._row(session, user_id)
            row.models = None if models is None else json.dumps(models)
            return Account.of(row)

    def set_group(self, user_id: str, group: str | None) -> Account:
        with self._db.session() as session:
            row = self._row(session, user_id)
            row.group_name = group or None
            return Account.of(row)

    def set_group_models(self, group: str, models: list[str] | None) -> None:
        with self._db.session() as session:
            row = session.get(GroupRow, group)
            value = None if models is None else json.dumps(models)
            if row is None:
                session.add(GroupRow(name=group, models=value))
            else:
                row.models = value

    def groups(self) -> dict[str, tuple[str, ...] | None]:
        with self._db.session() as session:
            return {row.name: _models(row.models) for row in session.scalars(select(GroupRow))}

    def allowed_models(self, account: Account) -> tuple[str, ...] | None:
        """The models the account may use: its own list, else its group's; None: every model."""
        if account.models is not None or account.group is None:
            return account.models
        with self._db.session() as session:
            group = session.get(GroupRow, account.group)
            return None if group is None else _models(group.models)

    def site_setting(self, name: str, default: str) -> str:
        with self._db.session() as session:
            row = session.get(SiteSettingRow, name)
            return default if row is None else row.value

    def set_site_setting(self, name: str, value: str) -> None:
        with self._db.session() as session:
            row = session.get(SiteSettingRow, name)
            if row is None:
                session.add(SiteSettingRow(name=name, value=value))
            else:
                row.value = value

    @staticmethod
    def _row(session: Session, user_id: str) -> UserRow:
        row = session.get(UserRow, user_id)
        if row is None:
            raise NotFoundError("user not found")
        return row
