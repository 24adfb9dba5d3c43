"""Passwords at rest: argon2id at OWASP's parameters, one verification's work for every failed
sign-in (an unknown user costs what a wrong password costs), older hashes upgraded at sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from causerie.auth import passwords
from causerie.auth.accounts import Accounts
from causerie.errors import AuthenticationError
from causerie.storage import Database

PASSWORD = "correct horse battery"


class CountingHasher(PasswordHasher):
    """The real hasher, counting the verifications it does."""

    verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        CountingHasher.verifications += 1
        return super().verify(hash, password)


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    database = Database(f"sqlite:///{tmp_path / 'causerie.db'}")
    database.migrate()
    try:
        yield Accounts(database)
    finally:
        database.dispose()


def stored_hash(accounts: Accounts, username: str) -> str:
    found = accounts.users.credentials(username)
    assert found is not None
    return found[1]


def test_stored_as_argon2id_with_owasps_parameters(accounts: Accounts) -> None:
    accounts.create_user("cli", "ann", PASSWORD)
    stored = stored_hash(accounts, "ann")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in stored


def test_an_unknown_user_costs_one_verification_like_a_wrong_password(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts.create_user("cli", "bob", PASSWORD)
    monkeypatch.setattr(passwords, "HASHER", CountingHasher(time_cost=2, memory_cost=19 * 1024))
    messages = []
    for username, password in (("nobody", PASSWORD), ("bob", "wrong password")):
        before = CountingHasher.verifications
        with pytest.raises(AuthenticationError) as refused:
            accounts.sign_in(username, password)
        assert CountingHasher.verifications == before + 1
        messages.append(refused.value.message)
    assert messages[0] == messages[1]  # nothing tells which one was wrong


def test_a_weaker_hash_is_upgraded_at_the_next_sign_in(accounts: Accounts) -> None:
    account = accounts.create_user("cli", "cy", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    accounts.users.set_password(account.id, weak, end_sessions=False)
    token, signed_in = accounts.sign_in("cy", PASSWORD)
    assert token and signed_in.id == account.id
    assert stored_hash(accounts, "cy").startswith("$argon2id$v=19$m=19456,t=2,p=1$")
