"""Projects in the chat page, in Debian's chromium against a real `causerie serve`: created from
the sidebar, given files and instructions on their page, a chat started there that answers from
the project's file and is listed under the project; renamed, archived and restored, made local
only; deleted with its chats only after a confirmation."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.web.pages import ask, wait_until_idle

pytestmark = pytest.mark.browser

PROJECT_URL = re.compile(r"/p/([0-9a-f-]{36})$")
CONVERSATION_URL = re.compile(r"/c/([0-9a-f-]{36})$")
HARBOUR = "The harbour of Brest closes at noon on Sundays; boats must leave before then."


def create_project(page: Page, server: Server, name: str, instructions: str = "") -> str:
    page.goto(server.url + "/")
    page.get_by_test_id("new-project").click()
    dialog = page.get_by_test_id("new-project-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("new-project-name").fill(name)
    dialog.get_by_test_id("new-project-instructions").fill(instructions)
    dialog.get_by_test_id("new-project-create").click()
    expect(page).to_have_url(PROJECT_URL)
    match = PROJECT_URL.search(page.url)
    assert match is not None
    return match.group(1)


def test_a_chat_started_in_a_project_answers_from_its_files_and_is_listed_with_it(
    page: Page, page_errors: list[str], sqlite_server: Server, tmp_path: Path
) -> None:
    project = create_project(page, sqlite_server, "Brest harbour", "Answer in one sentence.")
    expect(page.get_by_test_id("title")).to_have_text("Brest harbour")
    link = page.locator(f"[data-project-id='{project}'] [data-testid=project-link]")
    expect(link).to_have_attribute("aria-current", "page")
    panel = page.get_by_test_id("project-panel")
    expect(panel.get_by_test_id("project-instructions")).to_have_value("Answer in one sentence.")

    note = tmp_path / "harbour.txt"
    note.write_text(HARBOUR, encoding="utf-8")
    panel.get_by_test_id("attach-input").set_input_files(str(note))
    chip = panel.get_by_test_id("attachment")
    expect(chip.locator("[data-testid=attachment-status]")).to_have_text("Ready", timeout=60_000)
    expect(page.locator("textarea[name=content]")).to_have_attribute(
        "placeholder", "New chat in Brest harbour"
    )

    ask(page, "When does the harbour close on Sundays?")
    wait_until_idle(page)
    expect(page).to_have_url(CONVERSATION_URL)
    expect(panel).to_be_hidden()
    sources = page.locator(".message.assistant [data-testid=source]")
    expect(sources).to_have_count(1)  # the project's file, never attached to the chat itself
    expect(sources.first).to_have_text("harbour.txt")
    match = CONVERSATION_URL.search(page.url)
    assert match is not None
    chat = match.group(1)
    in_group = page.locator(f"[data-project-list='{project}'] a[data-id='{chat}']")
    expect(in_group).to_have_count(1)
    expect(page.locator(f"[data-testid=recent] a[data-id='{chat}']")).to_have_count(0)

    # after a reload, the chat is still grouped under its project, and the project page lists
    # it with the project's file
    page.reload()
    expect(in_group).to_have_attribute("aria-current", "page")
    expect(page.locator(f"[data-testid=recent] a[data-id='{chat}']")).to_have_count(0)
    link.click()
    expect(page).to_have_url(PROJECT_URL)
    expect(panel.get_by_test_id("project-chat-list").locator(f"a[href$='{chat}']")).to_have_count(1)
    expect(panel.get_by_test_id("attachment").locator(".attachment-name")).to_have_text(
        "harbour.txt"
    )
    assert page_errors == []


def test_a_project_is_renamed_archived_restored_and_deleted_after_a_confirmation(
    page: Page, page_errors: list[str], sqlite_server: Server
) -> None:
    project = create_project(page, sqlite_server, "Draft")
    panel = page.get_by_test_id("project-panel")

    panel.get_by_test_id("project-rename").click()
    field = page.get_by_test_id("project-rename-input")
    field.fill("Newsroom")
    field.press("Enter")
    expect(page.get_by_test_id("title")).to_have_text("Newsroom")
    link = page.locator(f"[data-project-id='{project}'] [data-testid=project-link]")
    expect(link).to_have_text("Newsroom")

    panel.get_by_test_id("project-instructions").fill("Cite your sources.")
    panel.get_by_test_id("project-local-only").check()
    panel.get_by_test_id("project-save").click()
    expect(panel.get_by_test_id("project-status")).to_have_text("Saved.")
    page.reload()
    expect(panel.get_by_test_id("project-instructions")).to_have_value("Cite your sources.")
    expect(panel.get_by_test_id("project-local-only")).to_be_checked()

    ask(page, "Hello")
    wait_until_idle(page)
    match = CONVERSATION_URL.search(page.url)
    assert match is not None
    chat = match.group(1)

    # archived: out of the sidebar, listed in the archive, restored from there
    page.goto(f"{sqlite_server.url}/p/{project}")
    panel.get_by_test_id("project-archive").click()
    expect(page).to_have_url(sqlite_server.url + "/")
    expect(link).to_have_count(0)
    page.get_by_test_id("archive-link").click()
    archived = page.get_by_test_id("archived-projects").locator(f"[data-project-id='{project}']")
    expect(archived).to_contain_text("Newsroom")
    archived.get_by_test_id("restore-project").click()
    expect(page.get_by_test_id("archived-projects")).to_have_count(0)
    expect(link).to_have_count(1)

    # deleting asks first (saying what goes with it); cancelling keeps everything
    link.click()
    panel.get_by_test_id("project-delete").click()
    dialog = page.get_by_test_id("project-delete-dialog")
    expect(dialog.get_by_test_id("project-delete-text")).to_have_text(
        "“Newsroom” will be deleted with its 1 chats and 0 files. This cannot be undone."
    )
    dialog.get_by_test_id("project-delete-cancel").click()
    expect(dialog).to_be_hidden()
    page.reload()
    expect(page.get_by_test_id("title")).to_have_text("Newsroom")
    panel.get_by_test_id("project-delete").click()
    dialog.get_by_test_id("project-delete-confirm").click()
    expect(page).to_have_url(sqlite_server.url + "/")
    expect(link).to_have_count(0)
    with httpx.Client(base_url=sqlite_server.url, headers={"Accept": "text/html"}) as client:
        assert client.get(f"/p/{project}").status_code == 404
        assert client.get(f"/c/{chat}").status_code == 404
    assert page_errors == []
