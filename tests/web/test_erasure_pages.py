"""Deleting accounts and setting retention over HTTP, against a real server (SQLite, then
Postgres): *Delete my account* with the password and the CSRF token, the admin's delete with
the username typed again, the retention forms (site and group) and the page's "kept until"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest

from causerie.auth.accounts import Accounts
from causerie.chat.retention import Retention
from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.users import Account
from tests.conftest import Server
from tests.helpers import accounts_for, csrf_token_of, multi_user

PASSWORD = "erasure-password-1"
HTML = {"accept": "text/html"}  # a browser asking for a page


@pytest.fixture
def accounts(accounts_server: Server) -> Iterator[Accounts]:
    with multi_user(accounts_server) as service:
        yield service


@pytest.fixture
def database(accounts_server: Server) -> Iterator[Database]:
    database, _ = accounts_for(accounts_server)
    yield database
    database.dispose()


def new_user(accounts: Accounts, prefix: str = "er", **options: str) -> Account:
    return accounts.create_user("cli", f"{prefix}-{uuid.uuid4().hex[:8]}", PASSWORD, **options)  # type: ignore[arg-type]


@contextmanager
def signed_in(server: Server, account: Account) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        token = csrf_token_of(client.get("/login").text)
        fields = {"csrf_token": token, "username": account.username, "password": PASSWORD}
        answer = client.post("/login", data={**fields, "next": "/"})
        assert answer.status_code == 303, answer.text
        yield client


def post(client: httpx.Client, page: str, path: str, **fields: str) -> httpx.Response:
    """Submit a form of ``page`` with its CSRF token."""
    token = csrf_token_of(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **fields})


def chat_of(database: Database, owner: str) -> str:
    store = ConversationStore(database, owner)
    conversation = store.create(title="Mine")
    store.append(conversation, None, [MessageDraft("user", "zqxv words of mine")])
    return conversation


def test_delete_my_account_asks_the_password_then_erases_and_signs_out(
    accounts_server: Server, accounts: Accounts, database: Database
) -> None:
    account = new_user(accounts)
    chat_of(database, account.id)
    with signed_in(accounts_server, account) as client:
        assert 'data-testid="delete-account-form"' in client.get("/account").text
        no_token = client.post("/account/delete", data={"password": PASSWORD})
        assert no_token.status_code == 403
        wrong = post(client, "/account", "/account/delete", password="not-my-password")
        assert wrong.status_code == 400 and "password" in wrong.text.lower()
        assert accounts.users.get(account.id).username == account.username

        done = post(client, "/account", "/account/delete", password=PASSWORD)

        assert done.status_code == 303 and done.headers["location"].endswith("/login")
        assert (
            client.get("/account", headers=HTML).status_code == 303
        )  # signed out: to the sign-in page
    assert accounts.users.credentials(account.username) is None
    assert ConversationStore(database, account.id).count_messages() == 0
    event = accounts.audit.recent(1)[0]
    assert (event.actor, event.action, event.target) == (
        account.username,
        "user.delete",
        account.username,
    )


def test_an_admin_deletes_an_account_once_its_name_is_typed(
    accounts_server: Server, accounts: Accounts, database: Database
) -> None:
    admin = new_user(accounts, "adm", role="admin")
    doomed = new_user(accounts)
    chat_of(database, doomed.id)
    with signed_in(accounts_server, admin) as client:
        assert 'data-testid="delete-form"' in client.get("/admin").text
        path = f"/admin/users/{doomed.id}/delete"
        mistyped = post(client, "/admin", path, confirm="someone-else")
        assert mistyped.status_code == 400
        assert accounts.users.get(doomed.id)

        done = post(client, "/admin", path, confirm=doomed.username.upper())

        assert done.status_code == 303 and "/admin?done=" in done.headers["location"]
        assert accounts.users.credentials(doomed.username) is None
        assert ConversationStore(database, doomed.id).count_messages() == 0
        event = accounts.audit.recent(1)[0]
        assert (event.actor, event.action, event.target) == (
            admin.username,
            "user.delete",
            doomed.username,
        )
        assert event.detail == "1 conversations, 1 messages"

        itself = post(client, "/admin", f"/admin/users/{admin.id}/delete", confirm=admin.username)
        assert itself.status_code == 303 and itself.headers["location"].endswith("/login")
        assert client.get("/admin", headers=HTML).status_code == 303  # signed out
    assert accounts.users.credentials(admin.username) is None


def test_retention_forms_and_the_expiry_shown_on_the_conversation(
    accounts_server: Server, accounts: Accounts, database: Database
) -> None:
    admin = new_user(accounts, "adm", role="admin")
    group = f"brief-{uuid.uuid4().hex[:6]}"
    member = accounts.set_group("cli", new_user(accounts).id, group)
    conversation = chat_of(database, member.id)
    retention = Retention(database)
    try:
        with signed_in(accounts_server, admin) as client:
            page = client.get("/admin/settings").text
            assert 'data-testid="retention-form"' in page
            refused = post(client, "/admin/settings", "/admin/settings/retention", days="soon")
            assert refused.status_code == 400
            saved = post(
                client, "/admin/settings", "/admin/settings/retention", days="400", keep_pinned="1"
            )
            assert saved.status_code == 303
            assert retention.policy().days == 400 and retention.policy().keep_pinned
            assert 'value="400"' in client.get("/admin/settings").text
            grouped = post(
                client, "/admin/groups", "/admin/groups/retention", group=group, days="7"
            )
            assert grouped.status_code == 303
            assert retention.policy().days_for(group) == 7
            assert "7 days" in client.get("/admin/groups").text
        updated = ConversationStore(database, member.id).get(conversation).updated_at
        expected = (updated + timedelta(days=7)).strftime("%Y-%m-%d")
        with signed_in(accounts_server, member) as client:
            shown = client.get(f"/c/{conversation}").text
            assert 'data-testid="expires"' in shown and expected in shown
        audited = [e.action for e in accounts.audit.recent(5)]
        assert "retention.policy" in audited and "retention.group" in audited
    finally:
        retention.set_policy("cli", None, keep_pinned=True)  # off again for the other tests
        retention.set_group_days("cli", group, None)
    assert not Retention(database).policy().days
