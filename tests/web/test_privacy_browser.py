"""The privacy firewall as a user meets it, in chromium: names listed in the settings dialog are
hidden from an external provider, and the reply says what was replaced (kinds and counts)."""

from __future__ import annotations

import re
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
    sent = [body["messages"][-1]["content"] for body in module_relay.bodies]
    assert "Write to [NAME_1] ([EMAIL_1]) about [NAME_2]." in sent
    # the title the model writes for the new chat is asked of the same provider, as hidden
    assert not any(value in str(sent) for value in ("Dupont", "jd@example", "roux"))
    question = page.locator("[data-testid=message][data-role=user]")
    expect(question).to_have_text(re.compile("Jean Dupont"))  # the user's own text is intact

    page.reload()  # both stay: the note is stored with the reply, the names with the user
    expect(note).to_have_text(expected)
    expect(page.locator("[data-testid=private-names]")).to_have_value("Jean Dupont\nCamille Roux")
