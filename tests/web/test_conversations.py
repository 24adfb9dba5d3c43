"""The conversation list in chromium against a real server: date groups, "Load more", rename,
pin, archive (and the archive view), delete; search with Ctrl+K; temporary chats; titles."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, expect
from sqlalchemy import update

from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.listing import ConversationListing
from causerie.storage.tables import ConversationRow
from tests.conftest import Server
from tests.web.pages import ask, wait_until_idle

pytestmark = pytest.mark.browser

CONVERSATION_URL = re.compile(r"/c/([0-9a-f-]{36})$")
SHORT_REPLIES = "localStorage.setItem('causerie:max-tokens', '24')"


@pytest.fixture
def database(sqlite_server: Server) -> Iterator[Database]:
    """The server's own database, opened beside it."""
    database = Database(sqlite_server.database_url)
    yield database
    database.dispose()


def seed(database: Database, title: str, days_ago: float, text: str = "hello") -> str:
    store = ConversationStore(database)
    conversation = store.create(title=title)
    store.append(conversation, None, [MessageDraft("user", text), MessageDraft("assistant", "ok")])
    moment = datetime.now(UTC) - timedelta(days=days_ago)
    with database.session() as session:
        session.execute(
            update(ConversationRow)
            .where(ConversationRow.id == conversation)
            .values(updated_at=moment)
        )
    return conversation


def item(page: Page, conversation_id: str) -> Locator:
    return page.locator(f'nav[data-testid=conversations] li[data-id="{conversation_id}"]')


def test_sidebar_groups_by_date_and_loads_more(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    yesterday = seed(database, f"{tag} yesterday", 1)
    week = seed(database, f"{tag} this week", 4)
    old = [seed(database, f"{tag} old {i}", 400 + i) for i in range(120)]  # > two pages
    page.goto(sqlite_server.url + "/")
    nav = page.locator("nav[data-testid=conversations]")
    headings = nav.locator("[data-testid=group-heading]")
    expect(headings.filter(has_text=re.compile(r"^Yesterday$"))).to_have_count(1)
    expect(headings.filter(has_text=re.compile(r"^Previous 7 days$"))).to_have_count(1)
    expect(
        item(page, yesterday).locator(
            "xpath=preceding-sibling::li[contains(@class,'group-heading')][1]"
        )
    ).to_have_text("Yesterday")
    expect(
        item(page, week).locator("xpath=preceding-sibling::li[contains(@class,'group-heading')][1]")
    ).to_have_text("Previous 7 days")
    ours = nav.locator("li.conversation-item").filter(has_text=f"{tag} old")
    assert ours.count() < len(old)  # the first page holds 50 conversations
    while page.locator("[data-testid=load-more]").count():
        page.locator("[data-testid=load-more]").click()
        expect(page.locator("[data-testid=load-more]:disabled")).to_have_count(0)
    expect(ours).to_have_count(len(old))
    ids = ours.evaluate_all("(items) => items.map((li) => li.dataset.id)")
    assert len(set(ids)) == len(old)
    # months, newest first, each heading once
    texts = headings.all_inner_texts()
    assert len(texts) == len(set(texts)), texts
    assert any(re.fullmatch(r"[A-Z][a-z]+ \d{4}", text) for text in texts), texts


def test_rename_pin_archive_restore_and_delete(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    conversation = seed(database, f"{tag} to manage", 0)
    other = seed(database, f"{tag} to delete", 0)
    page.goto(f"{sqlite_server.url}/c/{conversation}")
    entry = item(page, conversation)

    entry.hover()
    entry.locator("[data-testid=item-menu]").click()
    page.get_by_role("menuitem", name="Rename").click()
    field = entry.locator("[data-testid=rename-input]")
    field.fill(f"{tag} <b>renamed</b>")
    field.press("Enter")
    expect(entry.locator("a")).to_have_text(f"{tag} <b>renamed</b>")
    expect(page.locator("[data-testid=title]")).to_have_text(f"{tag} <b>renamed</b>")
    assert ConversationStore(database).get(conversation).title == f"{tag} <b>renamed</b>"

    entry.locator("[data-testid=item-menu]").click()
    page.get_by_role("menuitem", name="Pin", exact=True).click()
    pinned = page.locator("[data-testid=pinned]")
    expect(pinned.locator(f'li[data-id="{conversation}"]')).to_have_count(1)
    expect(page.locator(f'[data-testid=recent] li[data-id="{conversation}"]')).to_have_count(0)

    pinned.locator(f'li[data-id="{conversation}"] [data-testid=item-menu]').click()
    page.get_by_role("menuitem", name="Archive").click()
    expect(page).to_have_url(sqlite_server.url + "/")  # the open conversation went away
    expect(item(page, conversation)).to_have_count(0)
    assert ConversationListing(database).pinned() == [] or all(
        c.id != conversation for c in ConversationListing(database).pinned()
    )

    page.locator("[data-testid=archive-link]").click()
    archived = page.locator(f'[data-testid=archive-list] li[data-id="{conversation}"]')
    expect(archived).to_contain_text(f"{tag} <b>renamed</b>")
    archived.locator("[data-testid=restore]").click()
    expect(archived).to_have_count(0)
    expect(item(page, conversation)).to_have_count(1)

    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    doomed = item(page, other)
    doomed.hover()
    doomed.locator("[data-testid=item-menu]").click()
    page.get_by_role("menuitem", name="Delete").click()
    expect(doomed).to_have_count(0)
    assert dialogs and "Delete" in dialogs[0]
    page.reload()
    expect(item(page, other)).to_have_count(0)
    assert page.request.get(f"{sqlite_server.url}/c/{other}").status == 404


def test_search_with_ctrl_k_opens_the_matching_message(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    word = "quokka" + uuid.uuid4().hex[:6]
    store = ConversationStore(database)
    conversation = store.create(title="Animals <i>of</i> Australia")
    first = store.append(
        conversation,
        None,
        [
            MessageDraft("user", f"Tell me about the {word} please <img src=x onerror=alert(1)>"),
            MessageDraft("assistant", "It is a small marsupial."),
        ],
    )
    filler = [MessageDraft("user", f"filler {i}") for i in range(40)]
    store.append(conversation, first[-1].id, filler)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(sqlite_server.url + "/")
    page.keyboard.press("Control+k")
    dialog = page.locator("[data-testid=search-dialog]")
    expect(dialog).to_be_visible()
    box = page.locator("[data-testid=search-input]")
    expect(box).to_be_focused()
    box.press_sequentially(word[:-2])  # the last word is a prefix
    hit = page.locator(f'[data-testid=search-hit][data-conversation-id="{conversation}"]')
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text(word)
    expect(hit).to_contain_text("Animals <i>of</i> Australia")
    expect(hit).to_contain_text("<img src=x")  # shown as text
    expect(dialog.locator("img, i")).to_have_count(0)

    box.fill("zzzznothing" + word)
    expect(page.locator("[data-testid=search-empty]")).to_be_visible()
    box.fill(word)
    expect(hit).to_have_count(1)
    box.press("Enter")
    expect(page).to_have_url(
        f"{sqlite_server.url}/c/{conversation}?m={first[0].id}#m-{first[0].id}"
    )
    target = page.locator(f"#m-{first[0].id}")
    expect(target).to_be_in_viewport()
    assert page.evaluate("document.querySelector(':target')?.id") == f"m-{first[0].id}"
    assert dialogs == []


def test_temporary_chat_is_never_stored(
    page: Page, sqlite_server: Server, database: Database
) -> None:
    page.context.add_init_script(SHORT_REPLIES)
    store = ConversationStore(database)
    before = store.count_messages()
    page.goto(sqlite_server.url + "/")
    page.locator("[data-testid=temporary-chat]").click()
    expect(page.locator("[data-testid=temporary-notice]")).to_be_visible()
    ask(page, "Say hello.")
    wait_until_idle(page)
    expect(page.locator(".message.assistant")).to_have_count(1)
    assert page.locator(".message.assistant").inner_text().strip()
    ask(page, "Say it again.")  # the page keeps the history and sends it back
    wait_until_idle(page)
    expect(page.locator(".message.assistant")).to_have_count(2)
    expect(page.locator("[data-testid=error]")).to_be_hidden()
    assert page.url.endswith("/?temporary=1")
    expect(page.locator("[data-testid=share]")).to_be_hidden()
    assert store.count_messages() == before
    expect(page.locator("nav[data-testid=conversations] a[aria-current]")).to_have_count(0)


def test_first_reply_gets_a_title_from_the_model(page: Page, sqlite_server: Server) -> None:
    page.context.add_init_script(SHORT_REPLIES)
    question = "What is the capital of France?"
    page.goto(sqlite_server.url + "/")
    ask(page, question)
    wait_until_idle(page)
    match = CONVERSATION_URL.search(page.url)
    assert match, page.url
    expect(page.locator("[data-testid=share]")).to_be_visible()  # the chat exists now
    expect(page.locator("[data-testid=export-json]")).to_have_attribute(
        "href", f"/c/{match.group(1)}/export.json"
    )
    heading = page.locator("[data-testid=title]")
    expect(heading).not_to_have_text(question, timeout=30_000)
    title = heading.inner_text()
    link = page.locator(f'nav[data-testid=conversations] a[data-id="{match.group(1)}"]')
    expect(link).to_have_text(title)
    page.reload()
    expect(heading).to_have_text(title)
    # a second turn keeps it
    ask(page, "And of Italy?")
    wait_until_idle(page)
    page.reload()
    expect(heading).to_have_text(title)


def test_interface_in_french_from_the_browser_language(
    browser: Browser, sqlite_server: Server, database: Database
) -> None:
    seed(database, "Une discussion", 0)
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(sqlite_server.url + "/")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("textarea[name=content]")).to_have_attribute(
            "placeholder", "Écrire à Causerie"
        )
        expect(page.locator("[data-testid=new-chat]")).to_have_text("Nouvelle discussion")
        headings = page.locator("[data-testid=group-heading]")
        expect(headings.first).to_have_text("Aujourd’hui")
        page.keyboard.press("Control+/")
        expect(page.locator("[data-testid=shortcuts-dialog]")).to_contain_text("Raccourcis clavier")
        page.keyboard.press("Escape")
        page.locator("[data-testid=language]").select_option("en")
        expect(page.locator("[data-testid=new-chat]")).to_have_text("New chat")
        expect(headings.first).to_have_text("Today")
        assert errors == []
    finally:
        context.close()
