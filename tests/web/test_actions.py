"""The page's JSON actions, the fragments and the send options against the real app in-process
(on SQLite and on Postgres); the string catalogues and the language choice."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.web.i18n import LANGUAGES, catalogue, pick_language
from tests.inprocess import InProcess

MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def http(app: InProcess) -> Iterator[httpx.Client]:
    """The page's client, on SQLite, then on Postgres."""
    with app.page() as client:
        yield client


@pytest.fixture
def store(app: InProcess) -> Iterator[ConversationStore]:
    database = Database(app.database_url)
    yield ConversationStore(database)
    database.dispose()


@pytest.mark.parametrize(
    "action, body",
    [
        ("rename", {"title": "x"}),
        ("delete", {}),
        ("pin", {"value": True}),
        ("archive", {"value": True}),
        ("select", {"message_id": MISSING}),
        ("feedback", {"message_id": MISSING, "rating": 1}),
        ("title", {}),
        ("share", {}),
        ("share/revoke", {"token": "x"}),
    ],
)
def test_actions_need_json_and_a_known_conversation(
    http: httpx.Client, action: str, body: dict[str, object]
) -> None:
    form = http.post(f"/c/{MISSING}/{action}", data={"title": "x"})
    assert form.status_code == 400  # a cross-site HTML form cannot post JSON
    response = http.post(f"/c/{MISSING}/{action}", json=body)
    assert response.status_code == 404
    assert response.json()["error"]["message"]


def test_actions_validate_their_bodies(http: httpx.Client, store: ConversationStore) -> None:
    conversation = store.create(title="Valid")
    question, answer = store.append(
        conversation, None, [MessageDraft("user", "Q"), MessageDraft("assistant", "A")]
    )
    base = f"/c/{conversation}"
    assert http.post(f"{base}/rename", json={"title": "   "}).status_code == 400
    assert http.post(f"{base}/rename", json={"title": "x" * 201}).status_code == 400
    assert http.post(f"{base}/pin", json={"value": "yes please"}).status_code == 400
    bad_rating = {"message_id": answer.id, "rating": 3}
    assert http.post(f"{base}/feedback", json=bad_rating).status_code == 400
    on_question = {"message_id": question.id, "rating": 1}
    assert http.post(f"{base}/feedback", json=on_question).status_code == 400
    renamed = http.post(f"{base}/rename", json={"title": "  New   name "})
    assert renamed.json() == {"id": conversation, "title": "New name"}
    titled = http.post(f"{base}/title", json={})  # renamed by hand: the model is not asked
    assert titled.json() == {"id": conversation, "title": "New name", "generated": False}


def test_send_refuses_bad_branches(http: httpx.Client, store: ConversationStore) -> None:
    conversation = store.create(title="Branches")
    _, answer = store.append(
        conversation, None, [MessageDraft("user", "Q"), MessageDraft("assistant", "A")]
    )
    unknown = http.post(
        "/c/send", json={"conversation_id": conversation, "content": "x", "parent_id": MISSING}
    )
    assert unknown.status_code == 404
    nothing = http.post(
        "/c/send", json={"conversation_id": conversation, "content": None, "parent_id": None}
    )
    assert nothing.status_code == 400
    assert nothing.json()["error"]["param"] == "parent_id"
    assert store.count_messages(conversation) == 2
    continued = http.post(
        "/c/send",
        json={
            "conversation_id": conversation,
            "content": None,
            "parent_id": answer.id,
            "max_tokens": 4,
        },
    )
    assert continued.status_code == 200 and "event: done" in continued.text
    thread = http.get(f"/c/{conversation}/thread").text
    assert 'data-source="A' in thread and "2/2" in thread  # the cut reply's text, continued


def test_regenerate_and_edit_add_siblings_over_http(
    http: httpx.Client, store: ConversationStore
) -> None:
    conversation = store.create(title="Siblings")
    question, _ = store.append(
        conversation, None, [MessageDraft("user", "Hi"), MessageDraft("assistant", "Hello")]
    )
    regenerated = http.post(
        "/c/send",
        json={
            "conversation_id": conversation,
            "content": None,
            "parent_id": question.id,
            "max_tokens": 4,
        },
    )
    assert regenerated.status_code == 200 and "event: done" in regenerated.text
    edited = http.post(
        "/c/send",
        json={
            "conversation_id": conversation,
            "content": "Hey",
            "parent_id": None,
            "max_tokens": 4,
        },
    )
    assert edited.status_code == 200 and "event: done" in edited.text
    page = http.get(f"/c/{conversation}/thread").text
    assert page.count('data-testid="message"') == 2
    assert '<span class="sibling-position" data-testid="sibling-position">2/2</span>' in page
    older = http.get(f"/c/{conversation}/thread", params={"m": question.id}).text
    assert ">Hi</div>" in older and "2/2" in older  # the first question, its second reply


def test_send_names_an_unknown_model(http: httpx.Client) -> None:
    response = http.post("/c/send", json={"content": "hi", "model": "no-such-model"})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "model"
    assert 'data-testid="model"' not in http.get("/").text  # one model: no picker


def test_temporary_send_stores_nothing(http: httpx.Client, store: ConversationStore) -> None:
    before = store.count_messages()
    response = http.post(
        "/c/send",
        json={
            "content": "And then?",
            "temporary": True,
            "history": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ],
            "max_tokens": 4,
        },
    )
    assert response.status_code == 200
    blocks = [b for b in response.text.split("\n\n") if b.strip()]
    meta = json.loads(blocks[0].split("data: ", 1)[1])
    done = json.loads(blocks[-1].split("data: ", 1)[1])
    assert meta == {"conversation_id": None, "user_message_id": None, "title": None}
    assert "text" in done and done["reply_id"] is None
    assert store.count_messages() == before


def test_search_fragment_escapes_and_marks(http: httpx.Client, store: ConversationStore) -> None:
    conversation = store.create(title="<script>alert(1)</script> wombatfragment")
    store.append(conversation, None, [MessageDraft("user", "<b>wombatfragment</b> & more")])
    html = http.get("/search", params={"q": "wombatfragment"}).text
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<mark>wombatfragment</mark>" in html
    assert "<b>" not in html
    assert http.get("/search", params={"q": ""}).text.strip() == ""
    assert 'data-testid="search-empty"' in http.get("/search", params={"q": "zzqqxxnothing"}).text


def test_unknown_exports_and_shares_are_404(http: httpx.Client) -> None:
    assert http.get(f"/c/{MISSING}/export.json").status_code == 404
    assert http.get(f"/c/{MISSING}/export.md").status_code == 404
    assert http.get(f"/c/{MISSING}/export.html").status_code == 400  # md or json only
    gone = http.get("/s/no-such-token")
    assert gone.status_code == 404 and 'data-testid="share-gone"' in gone.text


def test_sidebar_pages_and_archive_page(http: httpx.Client) -> None:
    assert http.get("/sidebar", params={"cursor": "garbage"}).status_code == 400
    assert http.get("/archive").status_code == 200
    assert 'data-testid="archive"' in http.get("/archive").text


def test_language_from_the_browser_or_the_cookie(http: httpx.Client) -> None:
    french = http.get("/", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.8"}).text
    assert '<html lang="fr">' in french and "Nouvelle discussion" in french
    english = http.get("/", headers={"Accept-Language": "de-DE,en;q=0.5"}).text
    assert '<html lang="en">' in english and "New chat" in english
    chosen = http.get("/", headers={"Accept-Language": "fr", "Cookie": "lang=en"}).text
    assert '<html lang="en">' in chosen


def test_catalogues_have_the_same_keys() -> None:
    keys = {language: set(catalogue(language)) for language in LANGUAGES}
    assert all(k == keys["en"] for k in keys.values()), keys
    assert all(value.strip() for language in LANGUAGES for value in catalogue(language).values())


@pytest.mark.parametrize(
    "header, cookie, expected",
    [
        ("", None, "en"),
        ("fr", None, "fr"),
        ("en-US,fr;q=0.9", None, "en"),
        ("de, fr;q=0.2, en;q=0.1", None, "fr"),
        ("fr;q=0", None, "en"),
        ("fr;q=bad", None, "en"),
        ("fr", "en", "en"),
        ("en", "xx", "en"),
    ],
)
def test_pick_language(header: str, cookie: str | None, expected: str) -> None:
    assert pick_language(header, cookie) == expected


def test_chat_settings_and_instructions_reach_the_prompt(
    http: httpx.Client, store: ConversationStore
) -> None:
    conversation = store.create(title="Settings")
    _, hello = store.append(
        conversation, None, [MessageDraft("user", "Hi"), MessageDraft("assistant", "Hi!")]
    )
    base = f"/c/{conversation}"
    assert http.post(f"{base}/settings", json={"temperature": 5}).status_code == 400
    assert http.post(f"{base}/settings", json={"max_tokens": 0}).status_code == 400
    assert http.post(f"/c/{MISSING}/settings", json={}).status_code == 404
    assert http.post(f"{base}/settings", json={"documents": "all"}).status_code == 400
    whole = http.post(f"{base}/settings", json={"documents": "whole"})
    assert whole.json()["documents"] == "whole"
    assert '<option value="whole" selected>' in http.get(base).text  # its dialog shows it
    http.post(f"{base}/settings", json={})  # back to the defaults: automatic

    def reply_tokens() -> tuple[int, int]:
        """The same question under the same reply each time: only the system text differs."""
        response = http.post(
            "/c/send",
            json={"conversation_id": conversation, "content": "Go on.", "parent_id": hello.id},
        )
        assert response.status_code == 200 and "event: done" in response.text
        reply = store.branch(conversation)[-1]
        return reply.prompt_tokens, reply.completion_tokens

    http.post(f"{base}/settings", json={"max_tokens": 3})
    plain, completion = reply_tokens()
    assert completion <= 3  # the conversation's reply length
    saved = http.post(
        f"{base}/settings",
        json={"system_prompt": "  Answer like a pirate, always.  ", "max_tokens": 3},
    )
    assert saved.json()["system_prompt"] == "Answer like a pirate, always."
    with_prompt, _ = reply_tokens()
    assert with_prompt > plain + 5
    instructions = "I teach chemistry to teenagers; keep answers short and concrete, please."
    assert http.post("/preferences/instructions", json={"text": instructions}).status_code == 200
    try:
        with_both, _ = reply_tokens()
        shown = http.get("/preferences/instructions")  # what its dialog loads
        assert shown.headers["cache-control"] == "no-store"
        assert shown.json() == {"text": instructions, "private_names": []}
    finally:
        http.post("/preferences/instructions", json={"text": ""})
    assert with_both > with_prompt + 15
