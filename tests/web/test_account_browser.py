"""The account pages in a real browser (Debian's chromium through Playwright) against a real
server with accounts: signing in through the form, signing up with an invitation link, and an
API key created, copied, used with the `openai` client and revoked from its page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import openai
import pytest
from playwright.sync_api import Page, expect

from causerie.auth.accounts import Accounts
from causerie.storage.users import Account
from tests.conftest import Server
from tests.helpers import multi_user
from tests.web.pages import expect_refusals

PASSWORD = "correct horse battery"


@pytest.fixture
def server(accounts_sqlite_server: Server) -> Server:
    """The session's server for tests that create accounts (they make a server multi-user)."""
    return accounts_sqlite_server


@pytest.fixture
def accounts(server: Server) -> Iterator[Accounts]:
    with multi_user(server) as service:
        yield service


def new_user(accounts: Accounts) -> Account:
    return accounts.create_user("cli", f"u{uuid.uuid4().hex[:10]}", PASSWORD)


def sign_in(page: Page, server: Server, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_test_id("sign-in").click()


def test_sign_in_through_the_form(
    page: Page, page_errors: list[str], server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    page.goto(f"{server.url}/archive")
    expect(page).to_have_url(f"{server.url}/login?next=%2Farchive")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("form-error")).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Username")).to_have_value(user.username)
    expect_refusals(page_errors, 401)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    expect(page).to_have_url(f"{server.url}/archive")  # where the sign-in was asked for

    page.get_by_test_id("new-chat").click()
    expect(page.locator("textarea[name=content]")).to_be_visible()
    menu = page.get_by_test_id("account-menu")
    expect(menu.get_by_test_id("account-name")).to_have_text(user.username)
    expect(menu.get_by_test_id("admin-link")).to_have_count(0)
    menu.get_by_test_id("account-link").click()
    expect(page.get_by_test_id("account-username")).to_have_text(user.username)
    expect(page.get_by_test_id("usage-empty")).to_be_visible()

    page.get_by_test_id("account-menu").get_by_test_id("sign-out").click()
    expect(page).to_have_url(f"{server.url}/login")
    page.goto(f"{server.url}/")
    expect(page).to_have_url(f"{server.url}/login?next=%2F")


def test_an_admin_has_the_admin_link(page: Page, server: Server, accounts: Accounts) -> None:
    sign_in(page, server, "root", "root-password")
    expect(page.get_by_test_id("account-menu").get_by_test_id("admin-link")).to_have_attribute(
        "href", "/admin"
    )


def test_sign_up_with_an_invitation_link(
    page: Page, page_errors: list[str], server: Server, accounts: Accounts
) -> None:
    accounts.set_signup_policy("cli", "closed")
    invite = accounts.create_invite("root", accounts.users.by_username("root").id)
    name = f"i{uuid.uuid4().hex[:8]}"
    page.goto(f"{server.url}/signup")
    expect(page.get_by_test_id("notice")).to_contain_text("Sign-up is closed")
    page.goto(f"{server.url}/signup?invite={invite}")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_test_id("sign-up").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.get_by_test_id("account-name")).to_have_text(name)
    expect(page.locator("textarea[name=content]")).to_be_visible()

    page.get_by_test_id("sign-out").click()
    page.goto(f"{server.url}/signup?invite={invite}")  # an invitation serves once
    expect(page.get_by_test_id("notice-text")).to_contain_text("not valid any more")
    expect_refusals(page_errors, 403, 400)


def test_create_copy_use_and_revoke_an_api_key(
    page: Page, server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    sign_in(page, server, user.username)
    page.get_by_test_id("keys-link").click()
    expect(page.get_by_test_id("keys-empty")).to_be_visible()
    page.get_by_test_id("key-name").fill("notebook")
    page.get_by_test_id("create-key").click()

    key = page.get_by_test_id("new-key-value").input_value()
    assert re.fullmatch(r"csk-[0-9a-f]{12}-[\w-]{20,}", key)
    page.get_by_test_id("copy-key").click()
    expect(page.get_by_test_id("copy-key")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key
    row = page.get_by_test_id("key-row")
    expect(row).to_contain_text("notebook")
    expect(row.get_by_test_id("key-hint")).to_have_text(f"{key[:17]}…")

    with openai.OpenAI(base_url=server.api_url, api_key=key, max_retries=0) as api:
        assert api.models.list().data
        page.goto(f"{server.url}/account/keys")
        expect(page.get_by_test_id("new-key")).to_have_count(0)
        assert key not in page.content()
        page.get_by_test_id("key-row").get_by_test_id("revoke-key").click()
        expect(page.get_by_test_id("key-status")).to_have_text("Revoked")
        with pytest.raises(openai.AuthenticationError):
            api.models.list()
