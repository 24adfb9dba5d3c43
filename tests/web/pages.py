"""Actions on the chat page shared by the browser tests."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def ask(page: Page, question: str) -> None:
    """Type a question in the composer and send it with Enter."""
    box = page.locator("textarea[name=content]")
    box.fill(question)
    box.press("Enter")


def wait_until_idle(page: Page) -> None:
    """Wait until the reply has finished streaming (Send is back, Stop is gone)."""
    expect(page.locator("button[data-testid=send]")).to_be_visible(timeout=60_000)
    expect(page.locator("button[data-testid=stop]")).to_be_hidden()


def expect_refusals(page_errors: list[str], *statuses: int) -> None:
    """Forget the console's note of each page refused on purpose (and only of those)."""
    for status in statuses:
        note = f"console: Failed to load resource: the server responded with a status of {status}"
        page_errors.remove(next(e for e in page_errors if e.startswith(note)))
