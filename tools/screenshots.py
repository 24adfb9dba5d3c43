"""Screenshots of the web chat for docs/screenshots/: light and dark, desktop and phone, and a
project whose file answers a question, with the passage it came from opened.

Starts a real ``causerie serve`` on a temporary SQLite database, adds a few dated conversations
to the sidebar (their titles only), asks the real bundled model questions through the page,
and photographs the results with Debian's chromium::

    .venv/bin/python tools/screenshots.py              # writes docs/screenshots/*.png
    .venv/bin/python tools/screenshots.py documents    # only the project's three
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import update

from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.storage.listing import ConversationListing
from causerie.storage.tables import ConversationRow

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
QUESTION = "Write a Python function that checks whether a word is a palindrome."
SIDEBAR = [
    ("Weekend trip to Lyon", 0.2),
    ("Sourdough starter troubleshooting", 1),
    ("Explain TCP slow start", 3),
    ("Birthday message for Camille", 5),
    ("SQL window functions cheat sheet", 12),
    ("Quarterly report outline", 40),
    ("Learning French verbs", 70),
]


def seed(database_url: str) -> None:
    database = Database(database_url)
    store = ConversationStore(database)
    for title, days in SIDEBAR:
        conversation = store.create(title=title)
        store.append(conversation, None, [MessageDraft("user", title)])
        with database.session() as session:
            session.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation)
                .values(updated_at=datetime.now(UTC) - timedelta(days=days))
            )
        if title.startswith("SQL"):
            ConversationListing(database).set_pinned(conversation, True)
    database.dispose()


TIDES = [
    "Port of Brest. Tide tables and harbour notices for the first week of December.",
    "Sunday 6 December. High tide in Brest is at 14:12 (6.9 m), low tide at 20:25 (1.1 m). "
    "The sea will be calm in the morning and rougher after 16:00.",
    "Harbour notice. The harbour closes at noon on Sundays; boats must leave before then. "
    "The fuel dock is open from 8:00 to 11:30.",
]


def tide_tables() -> bytes:
    """A three-page PDF with a text layer (one paragraph a page)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in TIDES:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def project_with_tides(base: str) -> str:
    """A project (through the REST routes, as the page does) holding the tide tables, read."""
    with httpx.Client(base_url=base, timeout=60) as http:
        project = http.post(
            "/api/projects",
            json={"name": "Sailing in Brittany"},
        ).json()["id"]
        uploaded = http.post(
            "/api/files",
            files={"file": ("brest-tides.pdf", tide_tables())},
            data={"project_id": project},
        ).json()["id"]
        for _ in range(600):
            if http.get(f"/api/files/{uploaded}").json()["status"] == "ready":
                break
            time.sleep(0.2)
    return project


def documents(page: Page, base: str) -> None:
    """The project's page, then a chat in it answered from its file, its source opened."""
    project = project_with_tides(base)
    page.goto(f"{base}/p/{project}")
    page.get_by_test_id("attachment").first.wait_for()
    shoot(page, "project-light.png")
    box = page.locator("textarea[name=content]")
    box.fill("When is high tide in Brest on Sunday?")
    box.press("Enter")
    page.locator("button[data-testid=send]").wait_for(state="visible", timeout=120_000)
    page.wait_for_load_state("networkidle")
    page.mouse.move(0, 0)
    shoot(page, "answer-sources-light.png")
    page.locator(".message.assistant [data-testid=source]").nth(1).click()  # page 2: the tides
    page.get_by_test_id("source-dialog").wait_for()
    shoot(page, "source-passage-light.png")
    page.keyboard.press("Escape")


def shoot(page: Page, name: str) -> None:
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUT / name))
    print("wrote", OUT / name)


def main(only_documents: bool = False) -> None:
    data = Path(tempfile.mkdtemp(prefix="causerie-shots-"))
    url = f"sqlite:///{data / 'causerie.db'}"
    models = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "causerie"
    env = {
        **os.environ,
        "CAUSERIE_DATA_DIR": str(data),
        "CAUSERIE_MODELS_DIR": str(models / "test-models"),
        "CAUSERIE_DATABASE_URL": url,
        "CAUSERIE_LOG_LEVEL": "warning",
    }
    port = 8650
    server = subprocess.Popen(
        [sys.executable, "-m", "causerie", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        seed(url)
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True
            )
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script("localStorage.setItem('causerie:max-tokens', '160')")
            page = context.new_page()
            if only_documents:
                documents(page, base)
                return
            page.goto(base + "/")
            box = page.locator("textarea[name=content]")
            box.fill(QUESTION)
            box.press("Enter")
            page.locator("button[data-testid=send]").wait_for(state="visible", timeout=120_000)
            page.wait_for_load_state("networkidle")
            page.mouse.move(0, 0)
            shoot(page, "chat-light.png")
            page.locator("[data-testid=theme]").select_option("dark")
            shoot(page, "chat-dark.png")
            page.keyboard.press("Control+k")
            page.locator("[data-testid=search-input]").press_sequentially("palin")
            page.locator("[data-testid=search-hit]").first.wait_for()
            shoot(page, "search-dark.png")
            page.keyboard.press("Escape")
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            shoot(page, "phone-dark.png")
            page.locator("[data-testid=menu]").click()
            shoot(page, "phone-sidebar-dark.png")
            page.locator("[data-testid=theme]").select_option("light")
            page.keyboard.press("Escape")
            shoot(page, "phone-light.png")
            page.set_viewport_size({"width": 1280, "height": 800})
            documents(page, base)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main(only_documents=sys.argv[1:] == ["documents"])
