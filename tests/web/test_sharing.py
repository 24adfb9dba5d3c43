"""Share links and downloads in chromium against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.preferences import ChatSettings, Preferences
from causerie.storage.tree import MessageTree
from tests.conftest import Server

pytestmark = pytest.mark.browser


@pytest.fixture
def database(sqlite_server: Server) -> Iterator[Database]:
    database = Database(sqlite_server.database_url)
    yield database
    database.dispose()


def branched(database: Database) -> tuple[str, list[str]]:
    """A conversation with two replies to one question; the second is current."""
    store = ConversationStore(database)
    conversation = store.create(title="Shared <b>plans</b>")
    question, first = store.append(
        conversation,
        None,
        [MessageDraft("user", "Plan a trip"), MessageDraft("assistant", "**Day 1**: Paris")],
    )
    second = store.append(conversation, question.id, [MessageDraft("assistant", "Day 1: Lyon")])[0]
    MessageTree(database).set_feedback(conversation, second.id, 1, "nice")
    return conversation, [question.id, first.id, second.id]


def test_share_a_read_only_snapshot_then_revoke_it(
    page: Page, browser: Browser, sqlite_server: Server, database: Database
) -> None:
    conversation, _ = branched(database)
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    page.locator("[data-testid=share]").click()
    dialog = page.locator("[data-testid=share-dialog]")
    expect(dialog).to_be_visible()
    expect(page.locator("[data-testid=share-url]")).to_be_hidden()  # nothing shared yet
    page.locator("[data-testid=share-create]").click()
    expect(page.locator("[data-testid=share-url]")).to_be_visible()
    url = page.locator("[data-testid=share-url]").input_value()
    assert url.startswith(f"{sqlite_server.url}/s/")

    ConversationStore(database).append(
        conversation,
        MessageTree(database).thread(conversation)[-1].message.id,
        [MessageDraft("user", "a later private note")],
    )
    stranger = browser.new_context()  # someone else, no cookies, no storage
    try:
        shared = stranger.new_page()
        response = shared.goto(url)
        assert response is not None and response.status == 200
        expect(shared.locator("[data-testid=title]")).to_have_text("Shared <b>plans</b>")
        expect(shared.locator("[data-testid=message]")).to_have_count(2)
        expect(shared.locator(".message.assistant .content")).to_have_text("Day 1: Lyon")
        expect(shared.get_by_text("a later private note")).to_have_count(0)
        for absent in ("textarea", "[data-testid=sidebar]", "[data-testid=share]", "form"):
            expect(shared.locator(absent)).to_have_count(0)

        page.locator("[data-testid=share-revoke]").click()
        expect(page.locator("[data-testid=share-status]")).to_have_text("The link no longer works.")
        gone = shared.goto(url)
        assert gone is not None and gone.status == 404
        expect(shared.locator("[data-testid=share-gone]")).to_be_visible()
    finally:
        stranger.close()


def test_download_markdown_and_json_with_every_branch(
    page: Page, sqlite_server: Server, database: Database, tmp_path: Path
) -> None:
    conversation, ids = branched(database)
    Preferences(database).set_chat_settings(
        conversation, ChatSettings(system_prompt="Be brief.", temperature=0.3)
    )
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    page.locator("[data-testid=share]").click()
    with page.expect_download() as markdown_download:
        page.locator("[data-testid=export-md]").click()
    markdown = markdown_download.value
    assert markdown.suggested_filename == "shared-b-plans-b.md"
    text = Path(markdown.path()).read_text()
    assert (
        text == "# Shared <b>plans</b>\n\n## User\n\nPlan a trip\n\n## Assistant\n\nDay 1: Lyon\n"
    )

    with page.expect_download() as json_download:
        page.locator("[data-testid=export-json]").click()
    document = json.loads(Path(json_download.value.path()).read_text())
    assert document["format"] == "causerie.conversation"
    assert [m["id"] for m in document["messages"]] == ids  # both replies
    assert document["messages"][1]["parent_id"] == ids[0] == document["messages"][2]["parent_id"]
    assert document["messages"][2]["feedback"] == {"rating": 1, "comment": "nice"}
    assert document["current_leaf_id"] == ids[2]
    assert document["settings"] == {
        "system_prompt": "Be brief.",
        "temperature": 0.3,
        "top_p": None,
        "max_tokens": None,
        "documents": "auto",
    }
