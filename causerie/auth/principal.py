"""``Principal``: who a request acts for, however it proved it (session, API key, or nothing
on a server without accounts)."""

from __future__ import annotations

from dataclasses import dataclass

from causerie.storage.users import Account
from causerie.types import LOCAL_OWNER, Caller


@dataclass(frozen=True, slots=True)
class Principal:
    """``account`` None: the single local user of a server that has no accounts."""

    account: Account | None = None
    key_id: str = ""  # the API key used, "" for a session or the local user
    csrf_token: str = ""  # the session's token its page must echo; "" otherwise
    store_default: bool = True  # the key's: a request that does not say `store` is stored

    def stores(self, asked: bool | None) -> bool:
        """Whether an API request is stored: as it asks (``store``), else as its key says."""
        return self.store_default if asked is None else asked

    @property
    def owner(self) -> str:
        return self.account.id if self.account else LOCAL_OWNER

    @property
    def username(self) -> str:
        return self.account.username if self.account else LOCAL_OWNER

    @property
    def is_admin(self) -> bool:
        return self.account is not None and self.account.is_admin

    @property
    def multi_user(self) -> bool:
        return self.account is not None

    def caller(self, fairness: str = "") -> Caller:
        """The chat service's view; the engine shares its time fairly between users."""
        if self.account is not None:
            fairness = self.account.id
        return Caller(owner=self.owner, key_id=self.key_id, fairness=fairness)


LOCAL = Principal()
