"""The composer's model picker, against a real server that offers two names for the model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from causerie.storage import ConversationStore, Database
from tests.conftest import Server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def aliased_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    """A server whose local model is also reachable as the alias ``quick``."""
    tmp = tmp_path_factory.mktemp("aliased")
    server = Server(
        database_url=f"sqlite:///{tmp / 'causerie.db'}",
        data_dir=tmp,
        model_dir=model_dir,
        env_extra={"CAUSERIE_ALIAS_QUICK": "local"},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_picked_model_answers(page: Page, aliased_server: Server) -> None:
    page.context.add_init_script("localStorage.setItem('causerie:max-tokens', '8')")
    page.goto(aliased_server.url + "/")
    picker = page.locator("[data-testid=model]")
    expect(picker).to_be_visible()
    options = picker.locator("option").all_inner_texts()
    assert "quick" in options and len(options) >= 2, options
    picker.select_option("quick")
    sent: list[str] = []
    page.on(
        "request", lambda r: sent.append(r.post_data or "") if r.url.endswith("/c/send") else None
    )
    box = page.locator("textarea[name=content]")
    box.fill("Say hi.")
    box.press("Enter")
    expect(page.locator("button[data-testid=send]")).to_be_visible(timeout=60_000)
    expect(page.locator(".message.assistant [data-testid=message-actions]")).to_have_count(1)
    assert sent and '"model":"quick"' in sent[0]
    expect(page.locator("[data-testid=error]")).to_be_hidden()
    database = Database(aliased_server.database_url)
    try:
        summary = ConversationStore(database).list_recent(1)[0]
        assert summary.model  # stored under the model the alias resolved to
    finally:
        database.dispose()
