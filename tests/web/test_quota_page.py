"""Over a limit in the web chat: the page says so in words, and keeps what was written."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from causerie.storage.users import Limits
from tests.conftest import Server
from tests.helpers import accounts_for
from tests.web.pages import ask, wait_until_idle


def test_a_user_over_their_limit_reads_why_on_the_page(
    accounts_server: Server, browser: Browser
) -> None:
    database, accounts = accounts_for(accounts_server)
    if not accounts.users.any():
        accounts.create_user("cli", "root", "root-password", role="admin")
    user = accounts.create_user("cli", f"q{uuid.uuid4().hex[:8]}", "password-123")
    accounts.set_limits("cli", user.id, Limits(requests_per_minute=1))
    session = accounts.credentials.start_session(user.id)
    database.dispose()
    context = browser.new_context()
    context.add_cookies(
        [{"name": "causerie_session", "value": session, "url": accounts_server.url}]
    )
    page = context.new_page()
    try:
        if datetime.now(UTC).second >= 45:  # both questions inside one minute
            time.sleep(61 - datetime.now(UTC).second)
        page.goto(accounts_server.url)
        ask(page, "What is the capital of France?")
        wait_until_idle(page)
        ask(page, "And of Italy?")
        error = page.locator("[data-testid=error]")
        expect(error).to_be_visible()
        expect(error).to_contain_text("You can start 1 request a minute.")
        expect(error).to_contain_text("Try again in")
        expect(page.locator("textarea[name=content]")).to_have_value("And of Italy?")
    finally:
        context.close()
