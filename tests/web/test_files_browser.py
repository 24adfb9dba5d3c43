"""Files in the chat page, in Debian's chromium against a real `causerie serve`: attached in a
new chat and followed until ready, the question answered from them with its sources listed, a
source and a citation opening the passage highlighted, the files listed again after a reload,
removed with their ✕, and a file Causerie cannot read refused with a readable reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from causerie.storage import MessageDraft
from causerie.types import LOCAL_OWNER
from tests.conftest import Server
from tests.helpers import store_for
from tests.web.pages import ask, expect_refusals, wait_until_idle

pytestmark = pytest.mark.browser

HARBOUR = "The harbour of Brest closes at noon on Sundays; boats must leave before then."
CONVERSATION_URL = re.compile(r"/c/([0-9a-f-]{36})$")


def attach(page: Page, path: Path) -> None:
    page.locator("[data-testid=attach-input]").set_input_files(str(path))


def test_a_new_chat_answers_from_its_file_and_cites_it(
    page: Page, page_errors: list[str], sqlite_server: Server, tmp_path: Path
) -> None:
    note = tmp_path / "harbour.txt"
    note.write_text(HARBOUR, encoding="utf-8")
    page.goto(sqlite_server.url + "/")
    attach(page, note)
    chip = page.locator("[data-testid=attachment]")
    expect(chip).to_have_count(1)
    expect(chip.locator(".attachment-name")).to_have_text("harbour.txt")
    expect(chip.locator("[data-testid=attachment-status]")).to_have_text("Ready", timeout=60_000)

    ask(page, "When does the harbour close on Sundays?")
    wait_until_idle(page)
    expect(page).to_have_url(CONVERSATION_URL)
    sources = page.locator(".message.assistant [data-testid=source]")
    expect(sources).to_have_count(1)
    expect(sources.first).to_have_text("harbour.txt")
    sources.first.click()
    dialog = page.locator("[data-testid=source-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-testid=source-title]")).to_have_text("harbour.txt")
    expect(dialog.locator("[data-testid=source-passage]")).to_have_text(HARBOUR)
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()

    # the reply cites [1] (stored as the model might have written it) and [4], never given
    match = CONVERSATION_URL.search(page.url)
    assert match is not None
    conversation = match.group(1)
    database, store = store_for(sqlite_server)
    try:
        store = type(store)(database, LOCAL_OWNER)
        reply = store.branch(conversation)[-1]
        cited = MessageDraft("assistant", "Noon on Sundays [1], not [4].", sources=reply.sources)
        store.append(conversation, reply.id, [MessageDraft("user", "Sure?"), cited])
    finally:
        database.dispose()
    page.reload()
    citation = page.locator(".message.assistant sup.citation:not(.unverified)").last
    expect(citation).to_have_text("[1]")
    unverified = page.locator(".message.assistant sup.citation.unverified").last
    expect(unverified).to_have_text("[4]")
    citation.click()
    expect(dialog.locator("[data-testid=source-passage]")).to_have_text(HARBOUR)
    page.keyboard.press("Escape")

    # after the reload the conversation's file is listed again, and its ✕ deletes it
    expect(chip).to_have_count(1)
    expect(chip.locator("[data-testid=attachment-status]")).to_have_text("Ready")
    with page.expect_response(  # the deletion reaches the server before the page reloads
        lambda response: response.request.method == "DELETE" and "/api/files/" in response.url
    ):
        chip.locator("[data-testid=attachment-remove]").click()
    expect(chip).to_have_count(0)
    page.reload()
    expect(page.locator("[data-testid=attachment]")).to_have_count(0)
    # the passage went with the file: its citation says so instead of opening anything
    page.locator(".message.assistant [data-testid=source]").first.click()
    expect(dialog.locator("[data-testid=source-text]")).to_contain_text("no longer available")
    expect_refusals(page_errors, 404)


def test_a_file_that_cannot_be_read_is_refused_with_its_reason(
    page: Page, page_errors: list[str], sqlite_server: Server, tmp_path: Path
) -> None:
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    page.goto(sqlite_server.url + "/")
    attach(page, image)
    status = page.locator("[data-testid=attachment-status]")
    expect(status).to_contain_text("Failed:")
    expect(status).to_contain_text("photo.png")
    page.locator("textarea[name=content]").fill("Hello")
    send = page.locator("button[data-testid=send]")
    expect(send).to_be_enabled()  # a failed file holds nothing back
    expect_refusals(page_errors, 400)
