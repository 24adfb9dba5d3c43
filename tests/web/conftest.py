"""Debian's chromium driven through Playwright's sync API (no downloaded browsers); browser tests
live in this directory only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.web.chromium import CHROMIUM_PROCESS


@pytest.fixture
def browser() -> Browser:
    """The test process's chromium (``tests/web/chromium.py``), started if need be."""
    return CHROMIUM_PROCESS.browser()


@pytest.fixture
def page_errors() -> list[str]:
    """Script errors and console errors of ``page``; a test that expects some clears them."""
    return []


@pytest.fixture
def page(browser: Browser, page_errors: list[str]) -> Iterator[Page]:
    """A fresh context per test; script errors on the page fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = page_errors

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", on_console)
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors
