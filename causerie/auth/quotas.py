"""What a principal may use: which models, and how much (tokens a day, requests a minute,
requests at once). The counting itself lives in ``storage/usage.py`` so it is exact across
replicas; this module decides which limits apply and wraps the admission for async routes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from anyio import to_thread

from causerie.auth.principal import Principal
from causerie.config import Settings
from causerie.errors import ModelNotFoundError
from causerie.storage.db import Database
from causerie.storage.usage import QuotaBook, UsageLedger
from causerie.storage.users import Account, Limits, UserStore
from causerie.types import Admit, Lease


@dataclass
class Admission:
    """A request let in. ``release`` (idempotent) frees its concurrency slot."""

    book: QuotaBook
    lease_id: str | None
    tokens_left: int | None

    async def release(self, *_: object) -> None:
        lease, self.lease_id = self.lease_id, None
        if lease is not None:
            await to_thread.run_sync(self.book.release, lease)

    def cap(self, max_tokens: int | None) -> int | None:
        """A reply limit that stays within today's tokens."""
        if self.tokens_left is None:
            return max_tokens
        return self.tokens_left if max_tokens is None else min(max_tokens, self.tokens_left)


class Quotas:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._book = QuotaBook(database)
        self._ledger = UsageLedger(database)
        self._users = UserStore(database)
        self._defaults = Limits(
            settings.default_tokens_per_day,
            settings.default_requests_per_minute,
            settings.default_concurrent_requests,
        )

    def limits(self, account: Account) -> Limits:
        """The account's own limits, each falling back to the site default."""
        own, default = account.limits, self._defaults
        return Limits(
            own.tokens_per_day if own.tokens_per_day is not None else default.tokens_per_day,
            own.requests_per_minute
            if own.requests_per_minute is not None
            else default.requests_per_minute,
            own.concurrent_requests
            if own.concurrent_requests is not None
            else default.concurrent_requests,
        )

    async def admit(self, principal: Principal, models: Iterable[str]) -> Admission:
        """Let a request for ``models`` in (see ``check_model``), or raise ``ModelNotFoundError``
        or ``QuotaExceededError`` (429 with Retry-After). Single-user mode checks nothing and
        costs nothing."""
        account = principal.account
        if account is None:
            return Admission(self._book, None, None)

        def admit() -> tuple[str | None, int | None]:
            self.check_model(principal, models)
            return self._book.admit(account.id, self.limits(account))

        lease, left = await to_thread.run_sync(admit)
        return Admission(self._book, lease, left)

    async def charge(self, principal: Principal, model: str, *, prompt_tokens: int) -> None:
        """Count a request that is not a chat turn (embeddings) in the principal's usage."""
        if principal.account is None:
            return
        await to_thread.run_sync(
            lambda: self._ledger.record(
                principal.owner,
                principal.key_id,
                model,
                prompt_tokens=prompt_tokens,
                cached_tokens=0,
                completion_tokens=0,
            )
        )

    def admitter(self, principal: Principal) -> Admit:
        """``admit`` for this principal, as ``ChatService`` takes it."""

        async def admit(models: Sequence[str]) -> Lease:
            return await self.admit(principal, models)

        return admit

    def allowed_models(self, principal: Principal) -> tuple[str, ...] | None:
        """None: every model."""
        if principal.account is None:
            return None
        return self._users.allowed_models(principal.account)

    def check_model(self, principal: Principal, names: Iterable[str]) -> None:
        """Refuse a model the principal may not use, exactly as if it did not exist.

        ``names``: what was asked for and what it resolved to; either being allowed is enough.
        """
        allowed = self.allowed_models(principal)
        names = list(names)
        if allowed is None or any(name in allowed for name in names):
            return
        raise ModelNotFoundError(
            f"The model `{names[0]}` does not exist or you do not have access to it.",
            param="model",
        )
