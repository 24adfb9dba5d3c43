"""The privacy firewall as a user meets it, in chromium: names listed in the settings dialog are
hidden from an external provider, and the reply says what was replaced (kinds and counts)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.providers.conftest import start_server
from tests.providers.relay import Relay
from tests.web.pages import ask, wait_until_idle

pytestmark = pytest.mark.browser

MODEL = "gemma-3-270m-q4_k_m"
TITLE_ASKED = "Write a title of 2 to 6 words"


@pytest.fixture(scope="module")
def module_relay(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Relay]:
    """A real `causerie serve` upstream behind a ``Relay`` that records what reaches it."""
    upstream = start_server(tmp_path_factory.mktemp("upstream"), model_dir)
    relay = Relay(upstream.api_url).start()
    try:
        yield relay
    finally:
        relay.stop()
        upstream.stop()


@pytest.fixture(scope="module")
def cloud_server(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, module_relay: Relay
) -> Iterator[Server]:
    """A Causerie whose default model is an external provider (that upstream)."""
    data = tmp_path_factory.mktemp("cloud")
    providers = data / "providers.toml"
    providers.write_text(
        f'[aliases]\ndefault = ["cloud/{MODEL}"]\n\n'
        f'[providers.cloud]\nbase_url = "{module_relay.api_url}"\nprivacy = "external"\n'
        f'models = ["{MODEL}"]\n'
    )
    server = start_server(data, model_dir, CAUSERIE_PROVIDERS_FILE=str(providers))
    try:
        yield server
    finally:
        server.stop()


def test_private_names_are_hidden_and_the_reply_says_so(
    page: Page, cloud_server: Server, module_relay: Relay
) -> None:
    page.goto(cloud_server.url)
    page.evaluate("localStorage.setItem('causerie:max-tokens', '8')")
    page.locator("[data-testid=open-instructions]").click()
    dialog = page.locator("[data-testid=instructions-dialog]")
    dialog.locator("[data-testid=private-names]").fill("Jean Dupont\nCamille Roux")
    dialog.locator("[data-testid=instructions-save]").click()
    expect(dialog.locator("[data-testid=instructions-status]")).to_have_text("Saved.")
    dialog.get_by_role("button", name="Close").click()

    ask(page, "Write to Jean Dupont (jd@example.net) about camille roux.")
    wait_until_idle(page)
    note = page.locator("[data-testid=message][data-role=assistant] [data-testid=privacy-note]")
    expected = (
        "Before going to cloud, personal data was replaced by placeholders: "
        "1 e-mail address, 2 names."
    )
    expect(note).to_have_text(expected)
    # the title the model writes for the new chat is asked of the same provider, as hidden
    deadline = time.monotonic() + 30
    while not any(TITLE_ASKED in str(body) for body in module_relay.bodies):
        assert time.monotonic() < deadline, "the page never asked for a title"
        time.sleep(0.1)
    sent = [body["messages"][-1]["content"] for body in module_relay.bodies]
    assert "Write to [NAME_1] ([EMAIL_1]) about [NAME_2]." in sent
    assert not any(value in str(sent) for value in ("Dupont", "jd@example", "roux"))
    question = page.locator("[data-testid=message][data-role=user]")
    expect(question).to_have_text(re.compile("Jean Dupont"))  # the user's own text is intact

    page.reload()  # both stay: the note is stored with the reply, the names with the user
    expect(note).to_have_text(expected)
    page.locator("[data-testid=open-instructions]").click()
    expect(dialog.locator("[data-testid=private-names]")).to_have_value("Jean Dupont\nCamille Roux")


def test_the_dialog_on_any_page_keeps_the_names_it_did_not_show(
    page: Page, cloud_server: Server, page_errors: list[str]
) -> None:
    """The dialog is on every page; it loads what is stored when it opens, so saving it from
    the archive (or an account page) never wipes the names."""
    page.goto(cloud_server.url)
    page.locator("[data-testid=open-instructions]").click()
    dialog = page.locator("[data-testid=instructions-dialog]")
    dialog.locator("[data-testid=instructions]").fill("Be brief.")
    dialog.locator("[data-testid=private-names]").fill("Noor Haddad")
    dialog.locator("[data-testid=instructions-save]").click()
    expect(dialog.locator("[data-testid=instructions-status]")).to_have_text("Saved.")

    page.goto(f"{cloud_server.url}/archive")
    page.locator("[data-testid=open-instructions]").click()
    expect(dialog.locator("[data-testid=private-names]")).to_have_value("Noor Haddad")
    dialog.locator("[data-testid=private-names]").fill("Noor Haddad\nI")
    dialog.locator("[data-testid=instructions-save]").click()
    expect(dialog.locator("[data-testid=instructions-status]")).to_contain_text("at least 2")
    page_errors.clear()  # the browser logs the refused request
    dialog.locator("[data-testid=private-names]").fill("Noor Haddad\nSami Aziz")
    dialog.locator("[data-testid=instructions-save]").click()
    expect(dialog.locator("[data-testid=instructions-status]")).to_have_text("Saved.")

    page.goto(cloud_server.url)
    page.locator("[data-testid=open-instructions]").click()
    expect(page.locator("[data-testid=instructions]")).to_have_value("Be brief.")
    expect(page.locator("[data-testid=private-names]")).to_have_value("Noor Haddad\nSami Aziz")
