"""Signing in and out, signing up under the site's policy, passwords, and the admin's account
actions, each written to the audit log.

Signing in answers the same "wrong username or password" for an unknown user and a wrong
password, and takes the same time (see ``passwords.verify``). Throttling (``sign_in_wait``),
counted over ``THROTTLE_WINDOW`` before any password is checked, cannot lock the owner out:

- ``MAX_FAILURES_PER_PAIR`` failures for one username *from one address* close that address to
  that username (the guesser's address, not the owner's);
- ``MAX_FAILURES_PER_ADDRESS`` failures from one address, any usernames, close that address
  (credential stuffing); behind a proxy this needs its address in ``CAUSERIE_TRUSTED_PROXIES``,
  or every client would share it;
- past ``DELAY_AFTER`` failures for one username from anywhere, each attempt must wait a delay
  that doubles with every failure up to ``MAX_DELAY`` after the last one: guessers spread over
  many addresses are slowed down, while the right password still gets in after that short wait.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Literal

from causerie.auth import passwords
from causerie.errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    QuotaExceededError,
)
from causerie.storage.audit import LOGIN_FAILED, AuditLog, FailedLogins
from causerie.storage.credentials import ApiKeyInfo, Credentials
from causerie.storage.db import Database
from causerie.storage.tables import utcnow
from causerie.storage.users import Account, Limits, Role, Status, UserStore

SignupPolicy = Literal["closed", "invite", "approval"]
SIGNUP_POLICIES: tuple[SignupPolicy, ...] = ("closed", "invite", "approval")
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PAIR = 5
MAX_FAILURES_PER_ADDRESS = 20
DELAY_AFTER = 5
MAX_DELAY = timedelta(seconds=30)
WRONG_CREDENTIALS = "Wrong username or password."


def sign_in_wait(failed: FailedLogins, *, has_address: bool, now: datetime) -> float:
    """Seconds this sign-in attempt must still wait (0: check the password now)."""
    if has_address and (
        failed.for_user_from_address >= MAX_FAILURES_PER_PAIR
        or failed.from_address >= MAX_FAILURES_PER_ADDRESS
    ):
        return THROTTLE_WINDOW.total_seconds() / 3
    if failed.for_user >= DELAY_AFTER and failed.last_for_user is not None:
        doubling = timedelta(seconds=2 ** min(failed.for_user - DELAY_AFTER, 10))
        delay = min(doubling, MAX_DELAY)
        return max(0.0, (failed.last_for_user + delay - now).total_seconds())
    return 0.0


class Accounts:
    def __init__(self, database: Database) -> None:
        self.users = UserStore(database)
        self.credentials = Credentials(database)
        self.audit = AuditLog(database)

    # -- signing in and out ---------------------------------------------------------------------

    def sign_in(self, username: str, password: str, *, ip: str = "") -> tuple[str, Account]:
        """A new session token for the user, or ``AuthenticationError``."""
        name = username.strip().lower()[:64]
        failed = self.audit.failed_logins(username=name, ip=ip, within=THROTTLE_WINDOW)
        wait = sign_in_wait(failed, has_address=bool(ip), now=utcnow())
        if wait > 0:
            raise QuotaExceededError(
                "Too many failed sign-in attempts. Try again in "
                + (f"{wait:.0f} seconds." if wait < 60 else "a few minutes."),
                retry_after=wait,
                code="too_many_sign_in_attempts",
            )
        found = self.users.credentials(name)
        matches = passwords.verify(found[1] if found else None, password)
        if found is None or not matches:
            self.audit.record(name, LOGIN_FAILED, ip=ip)
            raise AuthenticationError(WRONG_CREDENTIALS, code="wrong_credentials")
        account, stored_hash = found
        if account.status != "active":
            self.audit.record(name, LOGIN_FAILED, ip=ip, detail=account.status)
            raise AuthenticationError(
                "Your account is waiting for an administrator's approval."
                if account.status == "pending"
                else "Your account is disabled.",
                code=f"account_{account.status}",
            )
        if passwords.needs_rehash(stored_hash):
            self.users.set_password(
                account.id, passwords.hash_password(password), end_sessions=False
            )
        token = self.credentials.start_session(account.id)
        self.audit.record(name, "login", ip=ip)
        return token, account

    def sign_out(self, session_token: str) -> None:
        self.credentials.end_session(session_token)

    def sign_out_everywhere(self, account: Account, *, ip: str = "") -> None:
        self.credentials.end_sessions(account.id)
        self.audit.record(account.username, "logout.everywhere", account.username, ip=ip)

    # -- signing up -----------------------------------------------------------------------------

    def signup_policy(self) -> SignupPolicy:
        value = self.users.site_setting("signup", "closed")
        return value if value in SIGNUP_POLICIES else "closed"

    def sign_up(
        self, username: str, password: str, *, invite: str | None = None, ip: str = ""
    ) -> Account:
        """A new account: active with a valid invitation, pending under the approval policy."""
        policy = self.signup_policy()
        if invite:
            if not self.credentials.invite_valid(invite):
                raise InvalidRequestError(
                    "This invitation link is not valid any more.", param="invite"
                )
            status: Status = "active"
        elif policy == "approval":
            status = "pending"
        else:
            raise PermissionDeniedError(
                "Sign-up is closed here. Ask an administrator for an invitation link.",
                code="signup_closed",
            )
        account = self.users.create(username, passwords.hash_password(password), status=status)
        if invite:
            try:
                self.credentials.use_invite(invite, account.id)
            except InvalidRequestError:  # used by someone else a moment ago
                self.users.set_status(account.id, "disabled")
                raise
        self.audit.record(account.username, "signup", account.username, ip=ip, detail=status)
        return account

    def change_password(self, account: Account, current: str, new: str) -> str:
        """Change one's own password; every session ends and a new one is returned."""
        found = self.users.credentials(account.username)
        if found is None or not passwords.verify(found[1], current):
            raise InvalidRequestError("The current password is wrong.", param="current_password")
        self.users.set_password(account.id, passwords.hash_password(new), end_sessions=True)
        self.audit.record(account.username, "password.change", account.username)
        return self.credentials.start_session(account.id)

    def delete_own_account(self, account: Account, password: str, *, ip: str = "") -> None:
        """*Delete my account*: the password again, then ``delete_user`` by the user."""
        found = self.users.credentials(account.username)
        if found is None or not passwords.verify(found[1], password):
            raise InvalidRequestError("The current password is wrong.", param="current_password")
        self.delete_user(account.username, account.id, ip=ip)

    # -- admin actions (actor: an admin's username, or "cli") ------------------------------------

    def delete_user(self, actor: str, user_id: str, *, ip: str = "") -> Account:
        """Erase the account and all it stored (``storage/erasure.py``); the last active admin
        cannot go. The audit event keeps the username and the counts, no content."""
        account = self.users.get(user_id)
        if account.is_admin and account.status == "active" and self.users.count_admins() <= 1:
            raise InvalidRequestError(
                "The last active admin cannot be deleted.", code="last_admin_delete"
            )
        erased = self.users.delete(user_id)
        detail = f"{erased.conversations} conversations, {erased.messages} messages"
        self.audit.record(actor, "user.delete", account.username, ip=ip, detail=detail)
        return account

    # -- API keys (the page and the CLI both come here: one audit record shape per action) ------

    def create_key(
        self, actor: str, account: Account, name: str, *, store: bool = True
    ) -> tuple[ApiKeyInfo, str]:
        """A new key for ``account`` (``store``: requests that do not say are stored); its full
        text is returned this once, never stored."""
        info, key = self.credentials.create_key(account.id, name, store=store)
        self.audit.record(actor, "key.create", account.username, detail=info.id)
        return info, key

    def revoke_key(self, actor: str, account: Account, key_id: str) -> ApiKeyInfo:
        """Revoke one of ``account``'s keys; another user's key is ``NotFoundError``."""
        info = self.credentials.revoke_key(account.id, key_id)
        self.audit.record(actor, "key.revoke", account.username, detail=info.id)
        return info

    def create_user(
        self, actor: str, username: str, password: str, *, role: Role = "user"
    ) -> Account:
        account = self.users.create(username, passwords.hash_password(password), role=role)
        self.audit.record(actor, "user.create", account.username, detail=role)
        return account

    def reset_password(self, actor: str, user_id: str, password: str) -> Account:
        self.users.set_password(user_id, passwords.hash_password(password), end_sessions=True)
        account = self.users.get(user_id)
        self.audit.record(actor, "user.password_reset", account.username)
        return account

    def set_status(self, actor: str, user_id: str, status: Status) -> Account:
        account = self.users.get(user_id)
        if status != "active" and account.is_admin and self.users.count_admins() <= 1:
            raise InvalidRequestError("The last active admin cannot be disabled.")
        account = self.users.set_status(user_id, status)
        self.audit.record(actor, f"user.{status}", account.username)
        return account

    def set_role(self, actor: str, user_id: str, role: Role) -> Account:
        account = self.users.get(user_id)
        if role != "admin" and account.is_admin and self.users.count_admins() <= 1:
            raise InvalidRequestError("The last active admin must stay an admin.")
        account = self.users.set_role(user_id, role)
        self.audit.record(actor, "user.role", account.username, detail=role)
        return account

    def set_limits(self, actor: str, user_id: str, limits: Limits) -> Account:
        account = self.users.set_limits(user_id, limits)
        self.audit.record(actor, "user.limits", account.username, detail=str(asdict(limits)))
        return account

    def set_models(self, actor: str, user_id: str, models: list[str] | None) -> Account:
        account = self.users.set_models(user_id, models)
        self.audit.record(actor, "user.models", account.username, detail=str(models))
        return account

    def set_group(self, actor: str, user_id: str, group: str | None) -> Account:
        account = self.users.set_group(user_id, group)
        self.audit.record(actor, "user.group", account.username, detail=group or "")
        return account

    def set_group_models(self, actor: str, group: str, models: list[str] | None) -> None:
        self.users.set_group_models(group, models)
        self.audit.record(actor, "group.models", group, detail=str(models))

    def set_signup_policy(self, actor: str, policy: str) -> None:
        if policy not in SIGNUP_POLICIES:
            raise InvalidRequestError(
                f"The sign-up policy is one of {', '.join(SIGNUP_POLICIES)}.", param="policy"
            )
        self.users.set_site_setting("signup", policy)
        self.audit.record(actor, "signup.policy", detail=policy)

    def create_invite(self, actor: str, actor_id: str, *, days: int = 7) -> str:
        token = self.credentials.create_invite(actor_id, days=days)
        self.audit.record(actor, "invite.create", detail=f"valid {days} days")
        return token
