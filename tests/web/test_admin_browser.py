"""The admin pages in a real browser (chromium): the usage chart and totals, and disabling a
user through the page. The page fixture fails the test on any script or CSP error."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from playwright.sync_api import Page, expect

from causerie.storage.usage import UsageLedger, today
from tests.conftest import Server
from tests.helpers import accounts_for

PASSWORD = "browser-password-1"


def test_the_admin_reads_the_usage_and_disables_a_user(accounts_server: Server, page: Page) -> None:
    database, accounts = accounts_for(accounts_server)
    suffix = uuid.uuid4().hex[:6]  # the server is shared: names and today's totals are not ours
    try:
        chief = accounts.create_user("cli", f"chief{suffix}", PASSWORD, role="admin")
        worker = accounts.create_user("cli", f"worker{suffix}", PASSWORD)
        ledger = UsageLedger(database)
        ledger.record(
            worker.id, "", "default", prompt_tokens=12_345, cached_tokens=0, completion_tokens=678
        )
        worker_session = accounts.credentials.start_session(worker.id)

        page.goto(f"{accounts_server.url}/admin/usage")
        page.locator("input[name=username]").fill(chief.username)  # sent to sign in first
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_test_id("sign-in").click()
        expect(page).to_have_url(re.compile(r"/admin/usage$"))

        # The server is shared: other tests' usage is in the totals too, and a background
        # title may be counted while we look. Read the ledger before and after the page until
        # nothing moved, then check the page's numbers exactly against it.
        day = today()
        chart = page.get_by_test_id("usage-chart")
        for _ in range(10):
            before = ledger.lines(since=day - timedelta(days=29))
            page.reload()
            expect(chart).to_be_visible()
            title = chart.locator(f'g.chart-day[data-day="{day}"] title').text_content()
            total = page.get_by_test_id("usage-total").text_content() or ""
            lines = ledger.lines(since=day - timedelta(days=29))
            if lines == before:
                break
        expect(chart.locator("g.chart-day")).to_have_count(30)
        prompt = sum(line.prompt_tokens for line in lines if line.day == day)
        completion = sum(line.completion_tokens for line in lines if line.day == day)
        assert title == f"{day}: {prompt:,} prompt tokens, {completion:,} completion tokens"
        assert f"{sum(line.prompt_tokens for line in lines):,}" in total
        bar = chart.locator(f'g.chart-day[data-day="{day}"] rect.chart-prompt')
        assert float(bar.get_attribute("height") or 0) > 0
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
