"""Retention on SQLite and Postgres, with real rows dated in the past: off by default, the
site's period, pinned chats kept or not, a group's own period winning, imports counted from
their import, the audit event (counts, no content), and one purge per interval across
replicas."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from causerie.auth.accounts import Accounts
from causerie.chat.retention import PURGE_ACTION, Retention
from causerie.errors import InvalidRequestError
from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.listing import ConversationListing
from causerie.storage.tables import ConversationImportRow, ConversationRow, utcnow
from causerie.storage.users import Account

NOW = utcnow()


def user(accounts: Accounts, group: str | None = None) -> Account:
    account = accounts.create_user("cli", f"r-{uuid.uuid4().hex[:8]}", "password-123")
    return accounts.set_group("cli", account.id, group) if group else account


def chat(database: Database, owner: str, days_old: int, *, pinned: bool = False) -> str:
    """A conversation with one message, last updated ``days_old`` days before NOW."""
    store = ConversationStore(database, owner)
    conversation = store.create(title=f"{days_old} days old")
    store.append(conversation, None, [MessageDraft("user", "zqxvsecret words")])
    if pinned:
        ConversationListing(database, owner).set_pinned(conversation, True)
    with database.session() as session:
        session.execute(
            update(ConversationRow)
            .where(ConversationRow.id == conversation)
            .values(updated_at=NOW - timedelta(days=days_old))
        )
    return conversation


def left(database: Database, owner: str) -> set[str]:
    return {c.id for c in ConversationStore(database, owner).list_recent()}


@pytest.fixture
def accounts(database: Database) -> Accounts:
    return Accounts(database)


def test_nothing_expires_by_default(database: Database, accounts: Accounts) -> None:
    retention = Retention(database)
    owner = user(accounts)
    ancient = chat(database, owner.id, 4000)
    assert not retention.policy().active
    assert retention.purge(NOW) == [] and retention.run_if_due(NOW) == []
    assert left(database, owner.id) == {ancient}
    assert retention.expires_at(owner.id, ancient) is None


def test_the_sites_period_erases_old_chats_and_keeps_pinned_ones_if_told(
    database: Database, accounts: Accounts
) -> None:
    retention = Retention(database)
    owner = user(accounts)
    _, recent = chat(database, owner.id, 40), chat(database, owner.id, 10)
    pinned = chat(database, owner.id, 400, pinned=True)
    retention.set_policy("admin", 30, keep_pinned=True)
    assert retention.expires_at(owner.id, recent) == NOW - timedelta(days=10) + timedelta(days=30)
    assert retention.expires_at(owner.id, pinned) is None

    purged = retention.purge(NOW)

    assert left(database, owner.id) == {recent, pinned}
    assert [(p.username, p.erased.conversations, p.erased.messages) for p in purged] == [
        (owner.username, 1, 1)
    ]
    event = accounts.audit.recent(1, action=PURGE_ACTION)[0]
    assert (event.actor, event.target) == ("retention", owner.username)
    assert event.detail == "1 conversations, 1 messages; 30 days"
    assert "zqxv" not in event.detail and "days old" not in event.detail

    retention.set_policy("admin", 30, keep_pinned=False)
    assert retention.expires_at(owner.id, pinned) is not None
    retention.purge(NOW)
    assert left(database, owner.id) == {recent}


def test_a_groups_own_period_wins(database: Database, accounts: Accounts) -> None:
    retention = Retention(database)
    keepers = f"keep-{uuid.uuid4().hex[:6]}"
    brief = f"brief-{uuid.uuid4().hex[:6]}"
    forever, short, plain = user(accounts, keepers), user(accounts, brief), user(accounts)
    retention.set_policy("admin", 30, keep_pinned=True)
    retention.set_group_days("admin", keepers, 0)  # kept forever
    retention.set_group_days("admin", brief, 5)
    kept_forever = chat(database, forever.id, 4000)
    _, short_new = chat(database, short.id, 10), chat(database, short.id, 2)
    plain_kept = chat(database, plain.id, 10)

    purged = retention.purge(NOW)

    assert left(database, forever.id) == {kept_forever}
    assert left(database, short.id) == {short_new}
    assert left(database, plain.id) == {plain_kept}
    assert {p.owner for p in purged} == {short.id}
    assert accounts.audit.recent(1, action=PURGE_ACTION)[0].detail.endswith(
        f"5 days, group {brief}"
    )
    assert retention.expires_at(forever.id, kept_forever) is None

    retention.set_group_days("admin", brief, None)  # back to the site's period
    assert retention.policy().days_for(brief) == 30


def test_an_import_counts_from_when_it_was_imported(database: Database, accounts: Accounts) -> None:
    retention = Retention(database)
    owner = user(accounts)
    imported = chat(database, owner.id, 900)  # the export's own, old date
    with database.session() as session:
        session.add(
            ConversationImportRow(
                conversation_id=imported,
                owner_id=owner.id,
                source="chatgpt",
                external_id="x",
                seen="{}",
                imported_at=NOW - timedelta(days=1),
            )
        )
    retention.set_policy("admin", 30, keep_pinned=True)
    retention.purge(NOW)
    assert left(database, owner.id) == {imported}
    assert retention.expires_at(owner.id, imported) == NOW + timedelta(days=29)
    retention.purge(NOW + timedelta(days=31))
    assert left(database, owner.id) == set()


def test_one_replica_purges_per_interval(database: Database, accounts: Accounts) -> None:
    first, second = Retention(database, interval=3600), Retention(database, interval=3600)
    owner = user(accounts)
    chat(database, owner.id, 40)
    first.set_policy("admin", 30, keep_pinned=True)
    assert len(first.run_if_due(NOW)) == 1
    chat(database, owner.id, 40)
    assert second.run_if_due(NOW + timedelta(minutes=10)) == []  # the other replica just did
    assert len(second.run_if_due(NOW + timedelta(hours=1))) == 1
    assert first.store.claim_run(NOW + timedelta(hours=1, minutes=1), timedelta(hours=1)) is False


def test_a_period_is_a_sensible_number_of_days(database: Database) -> None:
    retention = Retention(database)
    for days in (0, -1, 10**7):
        with pytest.raises(InvalidRequestError):
            retention.set_policy("admin", days, keep_pinned=True)
    retention.set_policy("admin", None, keep_pinned=True)
    assert not retention.policy().active
