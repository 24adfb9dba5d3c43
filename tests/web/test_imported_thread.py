"""Imported conversations on the page, in-process: the reasoning collapsed above its reply and
never as it, the tool call and its output, the image served to its owner alone with headers
that let nothing run, the placeholder of a file the export lacked, and the sidebar's lists
rendered again for the page to swap in after an import."""

from __future__ import annotations

import html as html_module
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from causerie.storage import Database
from causerie.storage.attachments import MessageAttachments, StoredAttachment
from causerie.web.attachments import attachment_headers
from tests.archive.chatgpt_factory import PNG, export_zip, rich_conversation
from tests.chat.imports import ASSETS, conversation_of, import_bytes
from tests.inprocess import InProcess


@pytest.fixture
def http(sqlite_app: InProcess) -> Iterator[httpx.Client]:
    with sqlite_app.page() as client:
        yield client


@pytest.fixture
def imported(sqlite_app: InProcess) -> Iterator[tuple[str, Database]]:
    """A rich ChatGPT conversation imported into the app's database: its Causerie id."""
    database = Database(sqlite_app.database_url)
    external = f"rich-{uuid.uuid4().hex[:8]}"
    import_bytes(database, export_zip([rich_conversation(external)], assets=ASSETS))
    try:
        yield conversation_of(database, external).id, database
    finally:
        database.dispose()


def articles(html: str) -> list[tuple[str, str]]:
    """The shown messages: (role, HTML) each."""
    found = re.finditer(r'<article [^>]*?data-role="(\w+)".*?</article>', html, flags=re.S)
    return [(match.group(1), match.group(0)) for match in found]


def test_an_imported_conversation_shows_reasoning_tools_and_files(
    http: httpx.Client, imported: tuple[str, Database]
) -> None:
    conversation, database = imported
    html = http.get(f"/c/{conversation}").text
    shown = articles(html)
    roles = [role for role, _ in shown]
    # the selected branch: u1, a1b (2 of 2), u2, the python call, its output, the reply
    assert roles == ["user", "assistant", "user", "assistant", "tool", "assistant"]
    first, answer, _, call, output, reply = (article for _, article in shown)
    assert 'data-testid="sibling-position">2/2<' in answer
    assert "What is in this picture?" in first and "I live in Lyon" not in html

    assert 'data-testid="reasoning"' in call and "<details" in call
    assert "Thought for 3s" in call and "Use matplotlib." in call
    assert "Use matplotlib." not in call.split('data-testid="reasoning"')[1].split("</details>")[1]
    # the code a tool ran, as a code block under the tool's name (not its JSON arguments)
    shown_call = html_module.unescape(re.sub(r"<[^>]+>", "", call))
    assert "python:" in shown_call and "print(2 ** 2)" in shown_call
    assert '"code"' not in shown_call and "\\n" not in shown_call
    assert 'data-testid="tool-output"' in output and "Output of python" in output
    assert "Squares grow fast" in reply and 'href="https://example.org/sq"' in reply

    files = MessageAttachments(database).for_conversation(conversation)
    (stored, gone) = next(iter(files.values()))
    assert stored.missing is None and gone.missing == "not_in_export"
    assert f'src="/attachments/{stored.id}"' in first and 'data-testid="attachment-image"' in first
    assert 'data-testid="attachment-missing"' in first
    assert "This file was not in the export." in first

    image = http.get(f"/attachments/{stored.id}")
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline;")
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in image.headers["content-security-policy"]
    assert http.get(f"/attachments/{gone.id}").status_code == 404  # a placeholder has no bytes
    assert http.get(f"/attachments/{uuid.uuid4()}").status_code == 404


def test_the_page_in_french_says_the_same(
    http: httpx.Client, imported: tuple[str, Database]
) -> None:
    http.cookies.set("lang", "fr")
    html = http.get(f"/c/{imported[0]}").text
    assert "Ce fichier n’était pas dans l’export." in html and "Résultat de python" in html
    assert "Gestion des données" in html and 'href="/api/export"' in html


def attachment(name: str, mime_type: str | None) -> StoredAttachment:
    return StoredAttachment("a1", "m1", 0, name, mime_type, 10, None, None, None)


@pytest.mark.parametrize(
    "mime_type, served, inline",
    [
        ("image/png", "image/png", True),
        ("image/JPEG", "image/jpeg", True),
        ("image/svg+xml", "image/svg+xml", False),  # scripts inside: never shown as a page
        ("text/html", "text/html", False),
        ("text/html; charset=utf-8", "text/html", False),
        ("application/pdf", "application/pdf", False),
        ("image/png\r\nX-Evil: 1", "application/octet-stream", False),
        (None, "application/octet-stream", False),
    ],
)
def test_only_raster_images_are_served_inline(
    mime_type: str | None, served: str, inline: bool
) -> None:
    media_type, headers = attachment_headers(attachment('chart ünïcode".png', mime_type))
    assert media_type == served
    assert headers["Content-Disposition"].startswith("inline;" if inline else "attachment;")
    assert "filename*=UTF-8''chart%20%C3%BCn%C3%AFcode%22.png" in headers["Content-Disposition"]
    assert 'filename="chart _n_code_.png";' in headers["Content-Disposition"]  # ASCII, no quote
    assert headers["X-Content-Type-Options"] == "nosniff"
    _, download = attachment_headers(attachment("a.png", "image/png"), download=True)
    assert download["Content-Disposition"].startswith("attachment;")


def test_the_sidebar_lists_render_again_without_a_cursor(
    http: httpx.Client, imported: tuple[str, Database]
) -> None:
    response = http.get("/sidebar")
    assert response.status_code == 200
    assert 'data-testid="recent"' in response.text and 'data-testid="projects"' in response.text
    assert f'data-id="{imported[0]}"' in response.text
