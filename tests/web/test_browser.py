"""The chat page in Debian's chromium against a real `causerie serve` with the real model."""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import httpx
import openai
import pytest
from playwright.sync_api import Dialog, Page, Request, expect

from causerie.storage import ConversationStore, Database
from tests.conftest import Server
from tests.web.pages import ask, wait_until_idle

pytestmark = pytest.mark.browser

CONVERSATION_URL = re.compile(r"/c/([0-9a-f-]{36})$")

# Records, for every change of the streaming reply, its text and whether Stop was showing.
RECORD_STREAM = """() => {
  window.streamLog = [];
  const messages = document.querySelector("[data-testid=messages]");
  const stop = document.querySelector("button[data-testid=stop]");
  new MutationObserver(() => {
    const replies = messages.querySelectorAll(".message.assistant");
    const reply = replies[replies.length - 1];
    if (reply) window.streamLog.push({text: reply.innerText.trim(), stopVisible: !stop.hidden});
  }).observe(messages, {childList: true, subtree: true, characterData: true});
}"""

# Clicks Stop as soon as the reply shows its first text.
STOP_AT_FIRST_TEXT = """() => {
  const messages = document.querySelector("[data-testid=messages]");
  const stop = document.querySelector("button[data-testid=stop]");
  const observer = new MutationObserver(() => {
    const reply = messages.querySelector(".message.assistant .content");
    if (reply && reply.textContent.trim() && !stop.hidden) {
      observer.disconnect();
      window.stoppedAt = reply.textContent;
      stop.click();
    }
  });
  observer.observe(messages, {childList: true, subtree: true, characterData: true});
}"""


def test_ask_stream_reload_and_find_in_sidebar(page: Page, sqlite_server: Server) -> None:
    question = "What is the capital of France?"
    page.goto(sqlite_server.url + "/")
    page.evaluate(RECORD_STREAM)
    ask(page, question)

    user = page.locator(".message.user .content")
    expect(user).to_have_text(question)
    expect(page.locator("textarea[name=content]")).to_have_value("")
    wait_until_idle(page)

    log = page.evaluate("window.streamLog")
    assert any(entry["text"] and entry["stopVisible"] for entry in log), log
    reply = page.locator(".message.assistant .content")
    expect(reply).to_have_count(1)
    answer = reply.inner_text().strip()
    assert answer
    expect(page.locator("[data-testid=error]")).to_be_hidden()
    expect(page.locator("[data-testid=interrupted]")).to_have_count(0)

    match = CONVERSATION_URL.search(page.url)
    assert match, page.url
    conversation_id = match.group(1)
    link = page.locator(f'nav[data-testid=conversations] a[href="/c/{conversation_id}"]')
    expect(link).to_have_count(1)  # titled by the first message, then by the model
    expect(link).to_have_attribute("aria-current", "page")
    page.wait_for_load_state("networkidle", timeout=60_000)

    page.reload()
    assert page.url == f"{sqlite_server.url}/c/{conversation_id}"
    expect(page.locator(".message.user .content")).to_have_text(question)
    expect(page.locator(".message.assistant .content")).to_have_text(answer)
    expect(page.locator("[data-testid=title]")).to_have_text(link.inner_text())

    page.goto(sqlite_server.url + "/")
    expect(page.locator(".message")).to_have_count(0)
    page.locator(f'nav[data-testid=conversations] a[href="/c/{conversation_id}"]').click()
    expect(page).to_have_url(f"{sqlite_server.url}/c/{conversation_id}")
    expect(page.locator(".message.user .content")).to_have_text(question)
    expect(page.locator(".message.assistant .content")).to_have_text(answer)


def test_second_message_continues_the_conversation(page: Page, sqlite_server: Server) -> None:
    page.goto(sqlite_server.url + "/")
    ask(page, "Hi.")
    wait_until_idle(page)
    first_url = page.url
    assert CONVERSATION_URL.search(first_url)
    ask(page, "What is 2 + 2?")
    wait_until_idle(page)
    assert page.url == first_url
    expect(
        page.locator(f'nav[data-testid=conversations] a[href="{urlparse(first_url).path}"]')
    ).to_have_count(1)
    expect(page.locator("nav[data-testid=conversations] a").first).to_have_attribute(
        "href", urlparse(first_url).path
    )
    page.reload()
    expect(page.locator(".message.user")).to_have_count(2)
    expect(page.locator(".message.assistant")).to_have_count(2)


def test_stop_keeps_the_partial_reply_marked_interrupted(page: Page, sqlite_server: Server) -> None:
    page.goto(sqlite_server.url + "/")
    page.evaluate(STOP_AT_FIRST_TEXT)
    ask(page, "Continue counting to 500: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15")
    wait_until_idle(page)
    shown = " ".join(str(page.evaluate("window.stoppedAt")).split())
    assert shown
    expect(page.locator(".message.assistant [data-testid=interrupted]")).to_be_visible()
    match = CONVERSATION_URL.search(page.url)
    assert match, page.url

    # The server notices the aborted request and saves the partial reply in the background.
    deadline = time.monotonic() + 15
    while 'data-testid="interrupted"' not in httpx.get(page.url).text:
        assert time.monotonic() < deadline, "the partial reply was not saved as interrupted"
        time.sleep(0.2)

    page.reload()
    reply = page.locator(".message.assistant")
    expect(reply.locator("[data-testid=interrupted]")).to_have_text("interrupted")
    saved = " ".join(reply.locator(".content").inner_text().split())
    assert saved.startswith(shown), (shown, saved)  # what was shown, and what came before Stop


HOSTILE_TITLE = '<img src=x onerror="alert(11)"> hi'
PAYLOADS = """\
<script>alert(1)</script>
<img src=x onerror=alert(2)>
<svg onload=alert(3)><circle r=1></circle></svg>
<iframe src="javascript:alert(4)"></iframe>
<a href="javascript:alert(5)">raw link</a>
[md link](javascript:alert(6))
[entity link](&#106;avascript:alert(7))
[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCg4KTwvc2NyaXB0Pg==)
![remote image](http://evil.example/x.png)
![data image](data:image/png;base64,iVBORw0KGgo=)
<http://evil.example/autolink>
&lt;script&gt;alert(9)&lt;/script&gt;
<style>body{display:none}</style>
<form action="http://evil.example"><input name=x></form>
- [x] <img src=x onerror=alert(12)> task
$\\text{<img src=x onerror=alert(13)>}$ and $x^{<script>alert(14)</script>}$
$$\\href{javascript:alert(15)}{click}$$

```html
<script>alert(10)</script>
```
"""


def test_hostile_markdown_in_a_stored_reply_is_inert(page: Page, sqlite_server: Server) -> None:
    client = openai.OpenAI(base_url=sqlite_server.api_url, api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="default",
        messages=[
            {"role": "user", "content": HOSTILE_TITLE},
            {"role": "assistant", "content": PAYLOADS},
            {"role": "user", "content": "ok"},
        ],
        max_tokens=5,
    )
    conversation_id = raw.headers["x-causerie-conversation-id"]
    client.close()

    dialogs: list[str] = []
    foreign: list[str] = []

    def on_request(request: Request) -> None:
        if urlparse(request.url).hostname not in ("127.0.0.1", "localhost"):
            foreign.append(request.url)

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    response = page.goto(f"{sqlite_server.url}/c/{conversation_id}")
    assert response is not None and response.ok
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "default-src 'self'" in csp

    messages = page.locator("[data-testid=messages]")
    expect(page.locator(".message.assistant")).to_have_count(2)
    page.wait_for_load_state("networkidle", timeout=60_000)
    hostile = page.locator(".message.assistant").first
    expect(hostile).to_contain_text("<script>alert(1)</script>")  # shown as text
    expect(hostile.locator("pre code")).to_contain_text("<script>alert(10)</script>")
    for selector in ("script", "img", "iframe", "svg", "style", "form", "input", "object"):
        expect(messages.locator(f".content {selector}")).to_have_count(0)  # model output
    expect(page.locator("a[href^='javascript' i], [src^='javascript' i]")).to_have_count(0)
    on_attributes = page.evaluate(
        """() => [...document.querySelectorAll("*")].flatMap(
             (el) => [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => a.name))"""
    )
    assert on_attributes == []
    hrefs = messages.locator("a").evaluate_all("(links) => links.map((a) => a.href)")
    assert all(h == "" or h.startswith(("http:", "https:", "mailto:")) for h in hrefs), hrefs
    for link in messages.locator("a[href]").all():
        expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(page.locator("[data-testid=title]")).to_have_text(HOSTILE_TITLE)
    expect(page.locator(".message.user .content").first).to_have_text(HOSTILE_TITLE)

    # A new chat whose title arrives in the stream's meta event and goes into the sidebar.
    page.goto(sqlite_server.url + "/")
    ask(page, HOSTILE_TITLE)
    wait_until_idle(page)
    match = CONVERSATION_URL.search(page.url)
    assert match, page.url
    link = page.locator(f'nav[data-testid=conversations] a[href="/c/{match.group(1)}"]')
    expect(link).to_have_count(1)
    page.wait_for_load_state("networkidle", timeout=60_000)  # the model may have retitled it
    expect(page.locator("[data-testid=title]")).to_have_text(link.inner_text())
    expect(page.locator(".message.user .content")).to_have_text(HOSTILE_TITLE)
    expect(page.locator("img, script:not([src]):not(#strings), iframe")).to_have_count(0)
    page.reload()
    expect(page.locator("img, script:not([src]):not(#strings), iframe")).to_have_count(0)

    assert dialogs == []
    assert foreign == []


def test_narrow_screen_drawer(page: Page, sqlite_server: Server) -> None:
    page.set_viewport_size({"width": 390, "height": 760})
    page.goto(sqlite_server.url + "/")
    new_chat = page.locator("[data-testid=new-chat]")
    menu = page.locator("[data-testid=menu]")
    expect(new_chat).to_be_hidden()
    expect(page.locator("textarea[name=content]")).to_be_visible()
    menu.click()
    expect(new_chat).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Escape")
    expect(new_chat).to_be_hidden()
    menu.click()
    page.locator("[data-testid=scrim]").click(position={"x": 370, "y": 400})
    expect(new_chat).to_be_hidden()


def test_a_refused_message_shows_the_error_and_comes_back(
    page: Page, sqlite_server: Server, page_errors: list[str]
) -> None:
    client = openai.OpenAI(base_url=sqlite_server.api_url, api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="default",
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=1,
    )
    conversation_id = raw.headers["x-causerie-conversation-id"]
    client.close()
    page.goto(f"{sqlite_server.url}/c/{conversation_id}")
    expect(page.locator(".message")).to_have_count(2)

    database = Database(sqlite_server.database_url)
    try:
        ConversationStore(database).delete(conversation_id)  # gone while the page is open
    finally:
        database.dispose()
    ask(page, "Are you still there?")

    error = page.locator("[data-testid=error]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("not found")
    expect(page.locator("textarea[name=content]")).to_have_value("Are you still there?")
    expect(page.locator(".message")).to_have_count(2)
    expect(page.locator("button[data-testid=send]")).to_be_enabled()
    assert all("404" in error for error in page_errors), page_errors
    page_errors.clear()  # the browser logs the refused request itself


def test_composer_keys(page: Page, sqlite_server: Server) -> None:
    page.goto(sqlite_server.url + "/")
    box = page.locator("textarea[name=content]")
    send = page.locator("button[data-testid=send]")
    expect(send).to_be_disabled()
    box.press("Enter")  # nothing to send
    box.press_sequentially("first line")
    expect(send).to_be_enabled()
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("first line\nsecond line")
    expect(page.locator(".message")).to_have_count(0)
    box.fill("   ")
    expect(send).to_be_disabled()
    box.press("Enter")
    expect(page.locator(".message")).to_have_count(0)
    assert page.url == sqlite_server.url + "/"


def test_a_stopped_reply_gets_its_actions_once_saved(page: Page, sqlite_server: Server) -> None:
    page.goto(sqlite_server.url + "/")
    page.evaluate(STOP_AT_FIRST_TEXT)
    ask(page, "Continue counting to 500: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15")
    wait_until_idle(page)
    reply = page.locator(".message.assistant")
    expect(reply.locator("[data-testid=interrupted]")).to_be_visible()
    # swapped in from the server without a reload: ids, actions, still marked interrupted
    expect(reply.locator("[data-testid=regenerate]")).to_be_visible(timeout=10_000)
    expect(reply).to_have_attribute("data-id", re.compile(r"[0-9a-f-]{36}"))
    expect(reply.locator("[data-testid=interrupted]")).to_be_visible()
