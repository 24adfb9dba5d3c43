"""Message actions in chromium against a real server and model: regenerate, edit, sibling
navigation, continue, copy (messages and code blocks), feedback; and the composer's niceties."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.tree import MessageTree
from tests.conftest import Server
from tests.web.pages import ask, wait_until_idle

pytestmark = pytest.mark.browser

CONVERSATION_URL = re.compile(r"/c/([0-9a-f-]{36})$")
SHORT_REPLIES = "localStorage.setItem('causerie:max-tokens', '16')"
RICH_REPLY = """\
Here is the plan:

- [x] write the code
- [ ] test it

```python
def area(r):
    return 3.14159 * r ** 2
```

Euler: $e^{i\\pi} + 1 = 0$

$$\\frac{a}{b}$$
"""


@pytest.fixture
def database(sqlite_server: Server) -> Iterator[Database]:
    database = Database(sqlite_server.database_url)
    yield database
    database.dispose()


def seeded(database: Database, reply: str = RICH_REPLY) -> tuple[str, str]:
    store = ConversationStore(database)
    conversation = store.create(title="Seeded")
    _, answer = store.append(
        conversation, None, [MessageDraft("user", "Plan it"), MessageDraft("assistant", reply)]
    )
    return conversation, answer.id


def test_regenerate_edit_and_navigate_siblings(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    page.context.add_init_script(SHORT_REPLIES)
    page.goto(sqlite_server.url + "/")
    ask(page, "Name a color.")
    wait_until_idle(page)
    match = CONVERSATION_URL.search(page.url)
    assert match, page.url
    conversation = match.group(1)
    reply = page.locator(".message.assistant")
    first_id = reply.get_attribute("data-id")
    first_answer = reply.locator(".content").inner_text()
    expect(reply.locator("[data-testid=siblings]")).to_have_count(0)

    reply.locator("[data-testid=regenerate]").click()
    wait_until_idle(page)
    expect(page.locator(".message.user")).to_have_count(1)
    expect(reply).to_have_count(1)
    expect(reply.locator("[data-testid=sibling-position]")).to_have_text("2/2")
    second_id = reply.get_attribute("data-id")
    assert second_id != first_id
    expect(reply.locator("[data-testid=next-sibling]")).to_be_disabled()

    reply.locator("[data-testid=previous-sibling]").click()
    expect(reply.locator("[data-testid=sibling-position]")).to_have_text("1/2")
    expect(reply).to_have_attribute("data-id", str(first_id))
    expect(reply.locator(".content")).to_have_text(first_answer)
    page.reload()  # the choice is stored: the conversation's current leaf moved
    expect(reply.locator("[data-testid=sibling-position]")).to_have_text("1/2")

    question = page.locator(".message.user")
    question.locator("[data-testid=edit]").click()
    editor = question.locator("[data-testid=edit-input]")
    expect(editor).to_have_value("Name a color.")
    editor.fill("Name a fruit.")
    editor.press("Enter")
    wait_until_idle(page)
    expect(question.locator(".content")).to_have_text("Name a fruit.")
    expect(question.locator("[data-testid=sibling-position]")).to_have_text("2/2")
    expect(reply).to_have_count(1)
    expect(reply.locator("[data-testid=siblings]")).to_have_count(0)

    question.locator("[data-testid=previous-sibling]").click()
    expect(question.locator(".content")).to_have_text("Name a color.")
    expect(question.locator("[data-testid=sibling-position]")).to_have_text("1/2")
    expect(reply.locator("[data-testid=sibling-position]")).to_have_text(re.compile(r"[12]/2"))
    question.locator("[data-testid=next-sibling]").click()
    expect(question.locator(".content")).to_have_text("Name a fruit.")

    thread = MessageTree(database).thread(conversation)
    assert [t.message.role for t in thread] == ["user", "assistant"]
    assert thread[0].message.content == "Name a fruit." and thread[0].position == 2
    assert ConversationStore(database).count_messages(conversation) == 5  # 2 questions, 3 replies


def test_continue_a_reply_cut_by_the_length_limit(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    page.context.add_init_script("localStorage.setItem('causerie:max-tokens', '6')")
    page.goto(sqlite_server.url + "/")
    ask(page, "Count from 1 to 40, separated by commas.")
    wait_until_idle(page)
    cut = page.locator(".message.assistant")
    cut_text = cut.locator(".content").inner_text()
    cut_source = cut.get_attribute("data-source") or ""
    expect(cut.locator("[data-testid=continue]")).to_be_visible()
    cut.locator("[data-testid=continue]").click()
    wait_until_idle(page)
    expect(page.locator(".message.user")).to_have_count(1)  # no new question
    reply = page.locator(".message.assistant")
    expect(reply).to_have_count(1)
    expect(reply.locator("[data-testid=sibling-position]")).to_have_text("2/2")
    assert (reply.get_attribute("data-source") or "").startswith(cut_source)
    assert len(reply.locator(".content").inner_text()) >= len(cut_text)
    expect(page.locator("[data-testid=error]")).to_be_hidden()
    match = CONVERSATION_URL.search(page.url)
    assert match, page.url
    stored = MessageTree(database).thread(match.group(1))
    assert [t.message.role for t in stored] == ["user", "assistant"]
    assert stored[1].message.content.startswith(cut_source)


def test_copy_a_message_and_a_code_block(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=sqlite_server.url)
    conversation, answer = seeded(database)
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    reply = page.locator(f'.message[data-id="{answer}"]')
    block = reply.locator(".code-block")
    expect(block.locator(".code-lang")).to_have_text("python")
    block.locator("[data-testid=copy-code]").click()
    expect(block.locator("[data-testid=copy-code]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == (
        "def area(r):\n    return 3.14159 * r ** 2\n"
    )
    reply.locator("[data-testid=copy]").click()
    assert page.evaluate("navigator.clipboard.readText()") == RICH_REPLY
    page.locator(".message.user [data-testid=copy]").click()
    assert page.evaluate("navigator.clipboard.readText()") == "Plan it"

    # task lists and math, rendered on the server
    expect(reply.locator(".task-box")).to_have_text(["☑", "☐"])
    expect(reply.locator(".content input")).to_have_count(0)
    expect(reply.locator("math")).to_have_count(2)
    expect(reply.locator(".math-block math[display=block] mfrac")).to_have_count(1)
    width = reply.locator(".math-block math").evaluate("(m) => m.getBoundingClientRect().width")
    assert width > 0  # chromium lays MathML out


def test_thumbs_and_comment_are_stored(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    conversation, answer = seeded(database, "A short reply.")
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    reply = page.locator(f'.message[data-id="{answer}"]')
    form = reply.locator("[data-testid=feedback-form]")
    expect(form).to_be_hidden()
    reply.locator("[data-testid=thumbs-down]").click()
    expect(reply.locator("[data-testid=thumbs-down]")).to_have_attribute("aria-pressed", "true")
    expect(form).to_be_visible()
    reply.locator("[data-testid=feedback-comment]").fill("Too short <b>really</b>")
    reply.locator("[data-testid=feedback-submit]").click()
    expect(reply.locator("[data-testid=feedback-status]")).to_have_text("Thanks for the feedback.")
    stored = MessageTree(database).thread(conversation)[1].message
    assert (stored.rating, stored.feedback_comment) == (-1, "Too short <b>really</b>")

    page.reload()
    expect(reply.locator("[data-testid=thumbs-down]")).to_have_attribute("aria-pressed", "true")
    expect(reply.locator("[data-testid=feedback-comment]")).to_have_value("Too short <b>really</b>")
    reply.locator("[data-testid=thumbs-up]").click()
    expect(reply.locator("[data-testid=thumbs-up]")).to_have_attribute("aria-pressed", "true")
    expect(reply.locator("[data-testid=thumbs-down]")).to_have_attribute("aria-pressed", "false")
    reply.locator("[data-testid=thumbs-up]").click()  # pressing again takes it back
    expect(form).to_be_hidden()
    page.wait_for_load_state("networkidle")
    assert MessageTree(database).thread(conversation)[1].message.rating is None


def test_drafts_survive_a_reload_and_the_box_grows(page: Page, sqlite_server: Server) -> None:
    page.goto(sqlite_server.url + "/")
    box = page.locator("textarea[name=content]")
    height = box.evaluate("(b) => b.getBoundingClientRect().height")
    box.press_sequentially("first line")
    for _ in range(4):
        box.press("Shift+Enter")
    box.press_sequentially("draft")
    assert box.evaluate("(b) => b.getBoundingClientRect().height") > height * 2
    page.reload()
    expect(box).to_have_value("first line\n\n\n\ndraft")
    box.fill("")
    page.reload()
    expect(box).to_have_value("")


def test_theme_choice_and_shortcuts_dialog(page: Page, sqlite_server: Server) -> None:
    page.goto(sqlite_server.url + "/")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "system")
    background = "() => getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(background) == "rgb(255, 255, 255)"
    page.locator("[data-testid=theme]").select_option("dark")
    expect(html).to_have_attribute("data-theme", "dark")
    assert page.evaluate(background) == "rgb(22, 23, 27)"
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(page.locator("[data-testid=theme]")).to_have_value("dark")
    page.emulate_media(color_scheme="dark")
    page.locator("[data-testid=theme]").select_option("system")
    assert page.evaluate(background) == "rgb(22, 23, 27)"  # follows the system
    page.emulate_media(color_scheme="light")
    assert page.evaluate(background) == "rgb(255, 255, 255)"

    page.locator("textarea[name=content]").focus()
    page.keyboard.press("Control+/")
    dialog = page.locator("[data-testid=shortcuts-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Search chats")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.locator("[data-testid=open-shortcuts]").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def test_a_500_message_conversation_opens_fast_and_loads_earlier_messages(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    store = ConversationStore(database)
    conversation = store.create(title="Long")
    drafts = []
    for turn in range(250):
        drafts.append(MessageDraft("user", f"Question {turn}"))
        drafts.append(
            MessageDraft("assistant", f"Answer **{turn}**\n\n```python\nprint({turn})\n```")
        )
    messages = store.append(conversation, None, drafts)
    first = messages[0].id

    response = page.request.get(f"{sqlite_server.url}/c/{conversation}")
    assert response.ok and response.text().count(' data-role="') == 60
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    shown = page.locator("[data-testid=message]")
    expect(shown).to_have_count(60)
    expect(shown.last.locator(".content")).to_contain_text("Answer 249")
    anchor = shown.first
    anchor_id = anchor.get_attribute("data-id")
    for _ in range(20):  # scrolling up brings the earlier messages, keeping the reader's place
        page.locator("[data-testid=thread]").evaluate("(t) => { t.scrollTop = 0; }")
        page.wait_for_timeout(150)
        if shown.count() == 500:
            break
    expect(shown).to_have_count(500)
    expect(shown.first).to_have_attribute("data-id", first)
    expect(page.locator("[data-testid=load-earlier]")).to_have_count(0)
    ids = shown.evaluate_all("(all) => all.map((m) => m.dataset.id)")
    assert ids == [m.id for m in messages]  # in order, no gaps, no repeats
    assert anchor_id in ids

    # a search hit far up the conversation opens with that message in the window
    page.goto(f"{sqlite_server.url}/c/{conversation}?m={messages[10].id}#m-{messages[10].id}")
    expect(page.locator(f"#m-{messages[10].id}")).to_be_in_viewport()


UNLABELLED = """() => [...document.querySelectorAll("button, a[href], input, select, textarea")]
  .filter((el) => {
    const name = el.getAttribute("aria-label") || el.textContent.trim() || el.title
      || (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent.trim())
      || el.closest("label")?.textContent.trim();
    return !name;
  })
  .map((el) => el.outerHTML.slice(0, 120))"""


def test_every_control_has_a_name_and_keyboard_reaches_the_composer(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    conversation, _ = seeded(database)
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    assert page.evaluate(UNLABELLED) == []
    expect(page.locator("textarea[name=content]")).to_be_focused()  # autofocus
    page.keyboard.press("Shift+Tab")  # backwards from the composer: its paperclip, then ...
    expect(page.locator("[data-testid=attach]")).to_be_focused()
    page.keyboard.press("Shift+Tab")  # ... the last reply's actions
    focused = page.evaluate("document.activeElement.closest('[data-testid=message]')?.dataset.role")
    assert focused == "assistant"
    page.keyboard.press("Control+k")
    expect(page.locator("[data-testid=search-input]")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("[data-testid=search-dialog]")).to_be_hidden()


def test_a_refused_regenerate_puts_the_thread_back(
    page: Page, sqlite_server: Server, database: Database, page_errors: list[str]
) -> None:
    conversation, answer = seeded(database, "The first reply.")
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    page.route(
        "**/c/send",
        lambda route: route.fulfill(
            status=503,
            json={
                "error": {
                    "message": "Busy, try again.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
    )
    page.locator(".message.assistant [data-testid=regenerate]").click()
    expect(page.locator("[data-testid=error]")).to_have_text("Busy, try again.")
    expect(page.locator(f'.message[data-id="{answer}"] .content')).to_have_text("The first reply.")
    expect(page.locator(".message")).to_have_count(2)
    assert all("503" in error for error in page_errors), page_errors
    page_errors.clear()  # the browser logs the refused request itself


def test_chat_settings_and_custom_instructions_dialogs(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    from causerie.storage.preferences import CUSTOM_INSTRUCTIONS, Preferences

    conversation, _ = seeded(database, "ok")
    preferences = Preferences(database)
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    page.locator("[data-testid=open-settings]").click()
    dialog = page.locator("[data-testid=settings-dialog]")
    expect(dialog).to_be_visible()
    dialog.locator("[data-testid=system-prompt]").fill("Answer in one short sentence.")
    dialog.locator("[data-testid=max-tokens]").fill("12")
    dialog.locator("[data-testid=settings-save]").click()
    expect(dialog.locator("[data-testid=settings-status]")).to_have_text("Saved.")
    saved = preferences.chat_settings(conversation)
    assert (saved.system_prompt, saved.max_tokens, saved.temperature) == (
        "Answer in one short sentence.",
        12,
        None,
    )
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    page.locator("[data-testid=open-instructions]").click()
    instructions = page.locator("[data-testid=instructions-dialog]")
    instructions.locator("[data-testid=instructions]").fill("Call me Sam.")
    instructions.locator("[data-testid=instructions-save]").click()
    expect(instructions.locator("[data-testid=instructions-status]")).to_have_text("Saved.")
    try:
        assert preferences.get(CUSTOM_INSTRUCTIONS) == "Call me Sam."
        page.reload()
        expect(page.locator("[data-testid=system-prompt]")).to_have_value(
            "Answer in one short sentence."
        )
        expect(page.locator("[data-testid=max-tokens]")).to_have_value("12")
        page.locator("[data-testid=open-instructions]").click()  # the dialog loads them
        expect(page.locator("[data-testid=instructions]")).to_have_value("Call me Sam.")
    finally:
        preferences.set(CUSTOM_INSTRUCTIONS, "")
