"""Importing from the page, in Debian's chromium against a real `causerie serve`: a ChatGPT
export in its 2026 sharded layout (``conversations-NNN.json`` and ``<id>.dat`` files; the
legacy layout is imported by ``tests/cli/test_cli_import.py``) uploaded from Data controls shows its upload then its conversations on the progress bar,
then what it did (counts, the skipped one with its reason, the attachments, the custom
instructions offered and taken); the sidebar lists the conversations without a reload, and
one opens on its selected branch with its reasoning collapsed, its image and the placeholder
of the image the export lacked. A bad file says why, and nothing is imported."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from causerie.storage import Database
from causerie.storage.listing import ConversationListing
from tests.archive.chatgpt_factory import bulk_conversations, export_zip, rich_conversation
from tests.conftest import Server, sqlite_server_with

pytestmark = pytest.mark.browser

BULK = 400  # enough conversations for the import to take a few progress reports
SHARD = 150  # conversations per file of the sharded export: three files
# Records every state the progress element goes through, from the page's side.
WATCH_PROGRESS = """() => {
  window.importSamples = [];
  const box = document.querySelector("[data-testid=import-progress]");
  const bar = box.querySelector("progress");
  const sample = () => window.importSamples.push(
    [box.dataset.phase || "", bar.hasAttribute("value") ? bar.value : null, bar.max]);
  new MutationObserver(sample).observe(box, { attributes: true, subtree: true });
  setInterval(sample, 20);
}"""


def png(width: int = 4, height: int = 2) -> bytes:
    """A real (grey) PNG image, so that the browser can draw it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def import_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    """A server of its own: the imports land in its sidebar and nobody else's."""
    yield from sqlite_server_with(tmp_path_factory.mktemp("import-page"), model_dir)


def conversation_count(server: Server) -> int:
    database = Database(server.database_url)
    try:
        return len(ConversationListing(database).page(limit=1000).items)
    finally:
        database.dispose()


def upload(page: Page, path: Path) -> None:
    page.get_by_test_id("open-data").click()
    dialog = page.get_by_test_id("data-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("import-file").set_input_files(str(path))
    dialog.get_by_test_id("import-start").click()


def test_an_export_uploaded_from_the_page_is_imported_and_shown(
    page: Page, import_server: Server, tmp_path: Path
) -> None:
    broken = {"conversation_id": "broken-1", "title": "A folder"}
    rich = rich_conversation("rich-page")
    rich["update_time"] += 10 * 365 * 86400  # the newest: first in the sidebar
    items = [rich, broken, *bulk_conversations(BULK, 8, seed=7)]
    export = tmp_path / "chatgpt-export.zip"
    sharded = export_zip(items, layout="sharded", shard_size=SHARD, assets={"file-IMG1": png()})
    export.write_bytes(sharded)
    page.goto(import_server.url + "/")
    expect(page.get_by_test_id("recent").locator("li.conversation-item")).to_have_count(0)
    page.evaluate(WATCH_PROGRESS)
    upload(page, export)

    summary = page.get_by_test_id("import-summary")
    expect(summary).to_be_visible(timeout=120_000)
    total = BULK + 2
    progress = page.get_by_test_id("import-progress")
    expect(progress).to_have_attribute("data-phase", "done")
    expect(progress).to_have_attribute("data-done", str(total))
    expect(progress).to_have_attribute("data-total", str(total))
    samples = page.evaluate("window.importSamples")
    phases = [phase for phase, _, _ in samples]
    assert "upload" in phases and phases.index("upload") < phases.index("done")
    uploaded = [value for phase, value, top in samples if phase == "upload" and value == top]
    assert uploaded, "the upload's bar reached its end"
    # the bar moved through the import: conversations done of the total, short of the end
    running = [(value, top) for phase, value, top in samples if phase == "running" and value]
    assert any(value < top for value, top in running), samples[-5:]
    assert all(0 < value <= top == total for value, top in running), samples[-5:]
    assert samples[-1][1:] == [total, total]

    expect(summary.get_by_test_id("import-counts")).to_have_text(
        f"Imported {total - 1} of {total} conversations: {total - 1} new, 0 updated, "
        "0 already here."
    )
    expect(summary.get_by_test_id("import-attachments")).to_contain_text(
        "1 stored, 1 missing from the export"
    )
    skipped = summary.get_by_test_id("import-skipped").locator("li")
    expect(skipped).to_have_count(1)
    expect(skipped).to_contain_text("conversations-000.json #2 “A folder”: has no mapping")
    offered = summary.get_by_test_id("import-instructions")
    expect(offered.locator("blockquote")).to_have_text("I live in Lyon.\n\nAnswer briefly.")
    offered.get_by_test_id("use-instructions").click()
    expect(offered.get_by_role("status")).to_have_text("These are your custom instructions now.")

    # The sidebar lists them without a reload; the rich one opens on its selected branch.
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("data-dialog")).to_be_hidden()
    link = page.get_by_test_id("conversations").get_by_role("link", name="Rich conversation")
    link.click()
    expect(page.get_by_test_id("title")).to_have_text("Rich conversation")
    messages = page.locator("[data-testid=messages] > [data-testid=message]")
    expect(messages).to_have_count(6)
    answer = messages.nth(1)
    expect(answer.locator(".content")).to_have_text("A cat on a mat.")
    expect(answer.get_by_test_id("sibling-position")).to_have_text("2/2")
    reasoning = page.get_by_test_id("reasoning")
    expect(reasoning.get_by_test_id("reasoning-summary")).to_have_text("Thought for 3s")
    expect(reasoning).not_to_have_attribute("open", "")
    expect(reasoning.get_by_text("Use matplotlib.")).to_be_hidden()
    reasoning.get_by_test_id("reasoning-summary").click()
    expect(reasoning.get_by_text("Use matplotlib.")).to_be_visible()
    image = messages.first.get_by_test_id("attachment-image")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 4
    expect(messages.first.get_by_test_id("attachment-missing")).to_contain_text(
        "This file was not in the export."
    )
    expect(page.get_by_test_id("tool-output")).to_contain_text("Output of python")
    expect(messages.last.locator(".content")).to_contain_text("Squares grow fast")

    page.get_by_test_id("open-instructions").click()
    expect(page.get_by_test_id("instructions")).to_have_value("I live in Lyon.\n\nAnswer briefly.")


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("export.zip", b"this is not a zip at all", "neither a zip nor a JSON list"),
        ("conversations.json", b'[{"mapping": {"a": ', "is not valid JSON"),
    ],
)
def test_a_bad_file_says_why_and_imports_nothing(
    page: Page, import_server: Server, tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    before = conversation_count(import_server)
    bad = tmp_path / name
    bad.write_bytes(data)
    page.goto(import_server.url + "/")
    upload(page, bad)
    error = page.get_by_test_id("import-error")
    expect(error).to_be_visible(timeout=60_000)
    expect(error).to_contain_text(reason)
    expect(error).to_contain_text("Nothing was imported.")
    expect(page.get_by_test_id("import-summary")).to_be_hidden()
    expect(page.get_by_test_id("import-progress")).to_be_hidden()
    expect(page.get_by_test_id("import-start")).to_be_enabled()
    assert conversation_count(import_server) == before
