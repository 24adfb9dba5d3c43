"""The admin pages in a real browser (chromium): the usage chart and totals, and disabling a
user through the page. The page fixture fails the test on any script or CSP error."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from causerie.storage.usage import UsageLedger
from tests.conftest import Server
from tests.helpers import accounts_for

PASSWORD = "browser-password-1"


def test_the_admin_reads_the_usage_and_disables_a_user(accounts_server: Server, page: Page) -> None:
    database, accounts = accounts_for(accounts_server)
    suffix = uuid.uuid4().hex[:6]  # the server is shared: names and today's totals are not ours
    try:
        chief = accounts.create_user("cli", f"chief{suffix}", PASSWORD, role="admin")
        worker = accounts.create_user("cli", f"worker{suffix}", PASSWORD)
        UsageLedger(database).record(
            worker.id, "", "default", prompt_tokens=12_345, cached_tokens=0, completion_tokens=678
        )
        worker_session = accounts.credentials.start_session(worker.id)

        page.goto(f"{accounts_server.url}/admin/usage")
        page.locator("input[name=username]").fill(chief.username)  # sent to sign in first
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_test_id("sign-in").click()
        expect(page).to_have_url(re.compile(r"/admin/usage$"))

        chart = page.get_by_test_id("usage-chart")
        expect(chart).to_be_visible()
        expect(chart.locator("g.chart-day")).to_have_count(30)
        # Other tests' usage shares the day (tests/web/test_admin_pages.py checks exact sums):
        # the day's bar counts at least this user's tokens.
        today = datetime.now(UTC).date().isoformat()
        title = chart.locator(f'g.chart-day[data-day="{today}"] title').text_content() or ""
        found = re.fullmatch(rf"{today}: ([\d,]+) prompt tokens, ([\d,]+) completion tokens", title)
        assert found, title
        assert int(found[1].replace(",", "")) >= 12_345 and int(found[2].replace(",", "")) >= 678
        bar = chart.locator(f'g.chart-day[data-day="{today}"] rect.chart-prompt')
        assert float(bar.get_attribute("height") or 0) > 0
        expect(page.get_by_test_id("usage-total")).to_be_visible()
        row = page.get_by_test_id("usage-per-user").locator("tr", has_text=worker.username)
        expect(row).to_contain_text("12,345")
        expect(row).to_contain_text("678")

        page.get_by_test_id("admin-nav").get_by_role("link", name="Users").click()
        account = page.locator(f"tbody[data-username={worker.username}]")
        expect(account.get_by_test_id("status")).to_have_text("Active")
        account.get_by_test_id("disable").click()
        expect(page.get_by_test_id("admin-done")).to_have_text(f"Saved: {worker.username}.")
        expect(account.get_by_test_id("status")).to_have_text("Disabled")
        expect(account.get_by_test_id("enable")).to_be_visible()
        assert accounts.credentials.session(worker_session) is None
        assert accounts.users.get(worker.id).status == "disabled"
    finally:
        database.dispose()
