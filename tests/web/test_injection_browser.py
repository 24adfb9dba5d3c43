"""Hostile documents in a real browser: a file made of prompt-injection and exfiltration
payloads is attached to a chat, its passages are cited by a reply that repeats every payload
(as a model fooled by them would), and nothing on the page reaches another host: no image, no
script, no frame, no style, no redirect. No alert opens and no script of theirs runs."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from causerie.storage import MessageDraft
from causerie.types import LOCAL_OWNER, Source
from tests.conftest import Server
from tests.helpers import page_client, store_for
from tests.web.injections import PAYLOADS

pytestmark = pytest.mark.browser


def attached_file(server: Server) -> tuple[str, str]:
    """A conversation with the payloads' file attached and read: (conversation, file id)."""
    with page_client(server.url) as page:
        started = page.post("/c/send", json={"content": "Hello", "max_tokens": 1})
        assert started.status_code == 200
        database, store = store_for(server)
        try:
            conversation = type(store)(database, LOCAL_OWNER).list_recent(1)[0].id
        finally:
            database.dispose()
        text = "\n\n".join(PAYLOADS)
        uploaded = page.post(
            "/api/files",
            files={"file": ("hostile.md", text.encode())},
            data={"conversation_id": conversation},
        )
        assert uploaded.status_code == 202, uploaded.text
        file_id = uploaded.json()["id"]
        for _ in range(600):
            if page.get(f"/api/files/{file_id}").json()["status"] == "ready":
                return conversation, file_id
            time.sleep(0.05)
    raise AssertionError("the hostile file was not read")


def test_hostile_passages_and_replies_reach_no_other_host(
    page: Page, sqlite_server: Server
) -> None:
    conversation, file_id = attached_file(sqlite_server)
    with httpx.Client(base_url=sqlite_server.url) as http:
        passages = 0
        while http.get(f"/api/files/{file_id}/passages/{passages}").status_code == 200:
            passages += 1
    assert passages >= 1
    database, store = store_for(sqlite_server)
    try:
        own = type(store)(database, LOCAL_OWNER)
        leaf = own.branch(conversation)[-1]
        sources = tuple(Source(n + 1, file_id, "hostile.md", None, n) for n in range(passages))
        reply = "\n\n".join(
            f"{payload} [{(i % passages) + 1}]" for i, payload in enumerate(PAYLOADS)
        )
        own.append(
            conversation,
            leaf.id,
            [
                MessageDraft("user", "Summarise the file."),
                MessageDraft("assistant", reply, sources=sources),
            ],
        )
    finally:
        database.dispose()

    server_host = urlparse(sqlite_server.url).netloc
    elsewhere: list[str] = []

    def record(request: Request) -> None:
        if urlparse(request.url).netloc not in (server_host, ""):
            elsewhere.append(request.url)

    alerts: list[str] = []
    page.on("request", record)
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    reply_box = page.locator(".message.assistant .content").last
    expect(reply_box).to_contain_text("Ignore previous instructions")
    # the payloads are shown as text: none became an element that loads or runs something
    for tag in ("img", "script", "iframe", "object", "video", "link", "style", "form", "svg"):
        expect(reply_box.locator(tag)).to_have_count(0)
    # open every source: the passages are inserted as text
    dialog = page.locator("[data-testid=source-dialog]")
    sources_list = page.locator(".message.assistant").last.locator("[data-testid=source]")
    expect(sources_list).to_have_count(passages)
    for index in range(passages):
        sources_list.nth(index).click()
        expect(dialog.locator("[data-testid=source-passage]")).not_to_be_empty()
        assert dialog.locator("img, script, iframe, object, video").count() == 0
        page.keyboard.press("Escape")
    page.mouse.wheel(0, 5000)
    page.wait_for_timeout(500)  # anything that would load has had its chance
    assert elsewhere == [], elsewhere
    assert alerts == []
    assert page.evaluate("typeof window.pwned") == "undefined"

    # the control: the same watch on a page without Causerie's sanitizer and CSP sees the load
    bare = page.context.new_page()
    bare.on("request", record)
    bare.set_content("<img src='https://evil.example/control.png'>")
    bare.wait_for_timeout(300)
    assert elsewhere == ["https://evil.example/control.png"]
    bare.close()
