"""Hostile markup written by the model itself, streamed through the page, stays inert.

The bundled base model copies text it is shown: after two "Repeat exactly" examples in the
conversation, it repeats a line of XSS payloads, and that reply travels the real path — engine,
stream, server-side markdown rendering and sanitizing, live HTML snapshots, the stored reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import openai
import pytest
from playwright.sync_api import Page, Request, expect

from tests.conftest import Server, sqlite_server_with

pytestmark = pytest.mark.browser

PAYLOAD = "<script>alert(1)</script> <img src=x onerror=alert(2)> [go](javascript:alert(3))"
EXAMPLES = [
    ("Repeat exactly: hello world", "hello world"),
    ("Repeat exactly: <b>bold</b> and 1 < 2", "<b>bold</b> and 1 < 2"),
    ("Repeat exactly: good morning", None),  # the model answers this one itself
]

# Records every element name and attribute the reply ever held while it streamed.
WATCH_REPLY = """() => {
  window.seen = {tags: [], attributes: [], texts: []};
  const messages = document.querySelector("[data-testid=messages]");
  new MutationObserver(() => {
    for (const reply of messages.querySelectorAll(".message.assistant .content")) {
      window.seen.texts.push(reply.textContent);
      for (const el of reply.querySelectorAll("*")) {
        window.seen.tags.push(el.tagName.toLowerCase());
        for (const a of el.attributes) window.seen.attributes.push(a.name + "=" + a.value);
      }
    }
  }).observe(messages, {childList: true, subtree: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def greedy_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    """Greedy decoding, so the model's copy is the same on every run."""
    yield from sqlite_server_with(
        tmp_path_factory.mktemp("greedy"),
        model_dir,
        CAUSERIE_TEMPERATURE="0",
        CAUSERIE_REPEAT_PENALTY="1.0",
    )


def test_hostile_markup_from_the_model_streams_inert(page: Page, greedy_server: Server) -> None:
    history: list[dict[str, str]] = []
    for question, answer in EXAMPLES:
        history.append({"role": "user", "content": question})
        if answer is not None:
            history.append({"role": "assistant", "content": answer})
    with openai.OpenAI(base_url=greedy_server.api_url, api_key="x", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="default", messages=history, max_tokens=8
        )
    conversation_id = raw.headers["x-causerie-conversation-id"]

    dialogs: list[str] = []
    foreign: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    def on_request(request: Request) -> None:
        if urlparse(request.url).hostname not in ("127.0.0.1", "localhost"):
            foreign.append(request.url)

    page.on("request", on_request)
    page.goto(f"{greedy_server.url}/c/{conversation_id}")
    page.evaluate(WATCH_REPLY)
    box = page.locator("textarea[name=content]")
    box.fill(f"Repeat exactly: {PAYLOAD}")
    box.press("Enter")
    expect(page.locator("button[data-testid=send]")).to_be_visible(timeout=60_000)

    reply = page.locator(".message.assistant .content").last
    expect(reply).to_contain_text("<script>alert(1)</script>")  # the model wrote it; shown as text
    expect(reply).to_contain_text("onerror=alert(2)")
    seen = page.evaluate("() => window.seen")
    assert any("<script>" in text for text in seen["texts"]), "the payload never streamed"
    assert not {"script", "img", "iframe", "svg"} & set(seen["tags"]), seen["tags"]
    assert not [a for a in seen["attributes"] if a.startswith("on") or "javascript:" in a.lower()]
    page.reload()
    stored = page.locator(".message.assistant .content").last
    expect(stored).to_contain_text("<script>alert(1)</script>")
    expect(page.locator(".message .content img, .message .content script")).to_have_count(0)
    assert dialogs == [] and foreign == []
