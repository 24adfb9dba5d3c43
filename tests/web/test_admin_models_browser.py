"""An admin pulls a model from the admin page (chromium, a real ``causerie serve``, the hub
served by ``FakeHub`` with the real bundled GGUF, slowed down so the progress can be watched):
the progress bar moves, the page lists the model once pulled, the chat's picker offers it and
it answers; a pull whose checksum is wrong ends with the reason shown and no file kept. The
pull is in the audit log with the admin as actor."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from causerie.engine.model import BUNDLED_MODEL_FILE
from tests.cli.fake_hub import FakeHub
from tests.conftest import Server
from tests.helpers import accounts_for, client_for

pytestmark = pytest.mark.browser

PASSWORD = "admin-password-1"
REPO = "test-org/tiny-chat-GGUF"
FILE = "tiny-chat-Q4_K_M.gguf"
BAD_REPO = "test-org/bad-GGUF"
BAD_FILE = "bad-Q4_K_M.gguf"


@pytest.fixture(scope="module")
def hub(model_dir: Path) -> Iterator[FakeHub]:
    bundled = model_dir / BUNDLED_MODEL_FILE
    server = FakeHub({REPO: {FILE: bundled}, BAD_REPO: {BAD_FILE: bundled}})
    server.wrong_sha256[BAD_FILE] = hashlib.sha256(b"not this file").hexdigest()
    server.pace = 0.01  # 253 chunks of 1 MiB: about 3 s
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pull_server(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, hub: FakeHub
) -> Iterator[Server]:
    """A server whose models directory is its own (a pull writes there), with the hub."""
    tmp = tmp_path_factory.mktemp("admin-pull")
    models = tmp / "models"
    models.mkdir()
    try:
        os.link(model_dir / BUNDLED_MODEL_FILE, models / BUNDLED_MODEL_FILE)
    except OSError:
        shutil.copyfile(model_dir / BUNDLED_MODEL_FILE, models / BUNDLED_MODEL_FILE)
    server = Server(
        database_url=f"sqlite:///{tmp / 'causerie.db'}",
        data_dir=tmp,
        model_dir=models,
        env_extra={"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_PROGRESS_BARS": "1"},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin_key(pull_server: Server) -> tuple[str, str]:
    """The admin's name, and an API key of theirs."""
    database, accounts = accounts_for(pull_server)
    try:
        admin = accounts.create_user("cli", "chief", PASSWORD, role="admin")
        return admin.username, accounts.credentials.create_key(admin.id, "test")[1]
    finally:
        database.dispose()


def sign_in(page: Page, server: Server, username: str) -> None:
    page.goto(f"{server.url}/admin/models")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    expect(page).to_have_url(re.compile(r"/admin/models$"))


def test_an_admin_pulls_a_model_and_watches_it_arrive(
    page: Page, pull_server: Server, admin_key: tuple[str, str]
) -> None:
    admin, key = admin_key
    sign_in(page, pull_server, admin)
    models = page.get_by_test_id("local-model")
    expect(models).to_have_count(1)
    expect(page.get_by_test_id("budget")).to_contain_text(" GB")

    page.get_by_test_id("pull-name").fill(REPO)
    page.get_by_test_id("pull").click()
    job = page.locator(f"[data-testid=pull-job][data-name='{REPO}']")
    expect(job).to_be_visible()
    # The bar moves while the bytes arrive (polled by the page, not reloaded).
    page.wait_for_function(
        """() => {
            const bar = document.querySelector("[data-testid=pull-progress]");
            return bar && bar.value > 0 && bar.value < bar.max;
        }"""
    )
    expect(job.get_by_test_id("pull-state")).to_have_text("Downloading")
    # Once it ends the page reloads: the model is listed, the pull says so.
    expect(job).to_have_attribute("data-state", "done", timeout=60_000)
    expect(job.get_by_test_id("pull-file")).to_have_text(FILE)
    expect(page.locator("[data-testid=local-model][data-model='tiny-chat-Q4_K_M']")).to_be_visible()
    assert (pull_server.model_dir / FILE).is_file()

    page.goto(f"{pull_server.url}/")
    options = page.get_by_test_id("model").locator("option").all_inner_texts()
    assert "tiny-chat-Q4_K_M" in options
    database, accounts = accounts_for(pull_server)
    try:
        events = accounts.audit.recent(action="model_pull")
    finally:
        database.dispose()
    assert [(event.actor, event.target) for event in events] == [(admin, REPO)]
    client = client_for(pull_server).with_options(api_key=key)
    reply = client.chat.completions.create(
        model="tiny-chat-Q4_K_M",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=8,
        temperature=0,
    )
    assert reply.model == "tiny-chat-Q4_K_M" and reply.choices[0].message.content


def test_a_pull_with_a_wrong_checksum_says_so(
    page: Page, pull_server: Server, admin_key: tuple[str, str]
) -> None:
    sign_in(page, pull_server, admin_key[0])
    page.get_by_test_id("pull-name").fill(BAD_REPO)
    page.get_by_test_id("pull").click()
    job = page.locator(f"[data-testid=pull-job][data-name='{BAD_REPO}']")
    expect(job).to_have_attribute("data-state", "failed", timeout=60_000)
    expect(job.get_by_test_id("pull-error")).to_contain_text("checksum mismatch")
    assert not (pull_server.model_dir / BAD_FILE).exists()
    expect(page.locator("[data-testid=local-model][data-model='bad-Q4_K_M']")).to_have_count(0)
