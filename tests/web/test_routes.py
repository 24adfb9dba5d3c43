"""The web routes against the real app in-process: pages, static files, the SSE protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import page_events as events
from tests.inprocess import InProcess


@pytest.fixture
def http(sqlite_app: InProcess) -> Iterator[httpx.Client]:
    with sqlite_app.page() as client:
        yield client


def test_new_chat_page(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    for hook in (
        'name="content"',
        'data-testid="send"',
        'data-testid="stop"',
        'data-testid="conversations"',
        '<script type="module" src="/static/chat.js',
    ):
        assert hook in html
    assert "<script>" not in html and "style=" not in html  # the CSP allows neither


def test_unknown_conversation_is_a_404_page(http: httpx.Client) -> None:
    response = http.get("/c/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-testid="not-found"' in response.text


@pytest.mark.parametrize(
    "name, media_type",
    [
        ("chat.js", "javascript"),
        ("sse.js", "javascript"),
        ("sidebar.js", "javascript"),
        ("api.js", "javascript"),
        ("thread.js", "javascript"),
        ("data.js", "javascript"),
        ("search.js", "javascript"),
        ("theme.js", "javascript"),
        ("chat.css", "text/css"),
        ("pygments.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_static_files(http: httpx.Client, name: str, media_type: str) -> None:
    response = http.get(f"/static/{name}")
    assert response.status_code == 200
    assert media_type in response.headers["content-type"]
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize(
    "body, headers, status, param",
    [
        ({"content": "   "}, {}, 400, "content"),
        ({}, {}, 400, "content"),
        ({"content": "hi", "extra": 1}, {}, 400, "extra"),
        ({"content": 5}, {}, 400, "content"),
        ({"conversation_id": "no-such-id", "content": "hi"}, {}, 404, None),
        ({"content": "hi"}, {"content-type": "text/plain"}, 400, None),
    ],
)
def test_send_rejects_bad_requests(
    http: httpx.Client, body: dict[str, object], headers: dict[str, str], status: int, param: str
) -> None:
    response = http.post(
        "/c/send", content=json.dumps(body), headers={"content-type": "application/json", **headers}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"]
    assert error["param"] == param


def test_send_streams_meta_html_done_and_the_page_shows_the_same(http: httpx.Client) -> None:
    response = http.post("/c/send", json={"conversation_id": None, "content": "Hi!"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = events(response)
    names = [name for name, _ in stream]
    assert names[0] == "meta" and names[-1] == "done"
    assert set(names[1:-1]) <= {"html"}
    meta, done = stream[0][1], stream[-1][1]
    assert meta["title"] == "Hi!" and meta["user_message_id"]
    assert done["interrupted"] is False and done["finish_reason"] in ("stop", "length")
    assert done["reply_id"]

    page = http.get(f"/c/{meta['conversation_id']}")
    assert page.status_code == 200
    if len(names) > 2:
        last_html = str(stream[-2][1]["html"])
        assert last_html in page.text  # stored text renders exactly as the last snapshot
    assert f'data-id="{done["reply_id"]}"' in page.text
    assert f'href="/c/{meta["conversation_id"]}"' in http.get("/").text


def test_user_messages_are_escaped_on_the_page(http: httpx.Client) -> None:
    text = "<b>not bold</b>\nsecond line"
    response = http.post("/c/send", json={"content": text})
    meta = events(response)[0][1]
    page = http.get(f"/c/{meta['conversation_id']}").text
    assert '<div class="content plain">&lt;b&gt;not bold&lt;/b&gt;\nsecond line</div>' in page
