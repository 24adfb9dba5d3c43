"""Files attached to a conversation answer its questions, in-process on SQLite (the storage underneath is tested on both databases in tests/storage and tests/retrieval): the
turn is given the best passages, the reply keeps them as numbered sources, and its citations
are checked when shown: a number that was given opens its passage, any other is unverified."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from causerie.storage import ConversationStore, Database, MessageDraft
from causerie.types import LOCAL_OWNER, Source
from tests.helpers import csrf_token_of, page_events
from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio

HARBOUR = "The harbour of Brest closes at noon on Sundays; boats must leave before then."
BAKERY = "Our bakery sells sourdough loaves, baked every morning at five o'clock."


@asynccontextmanager
async def page_http(app: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client that behaves like the page: the cookies and CSRF token of ``/``."""
    async with app.http(timeout=120) as client:
        client.headers["X-CSRF-Token"] = csrf_token_of((await client.get("/")).text)
        yield client


async def send(http: httpx.AsyncClient, **body: object) -> dict[str, dict[str, object]]:
    answer = await http.post("/c/send", json={"max_tokens": 6, **body})
    return dict(page_events(answer))


async def attach(http: httpx.AsyncClient, conversation: str | None, name: str, text: str) -> str:
    form = {"conversation_id": conversation} if conversation else {}
    uploaded = await http.post("/api/files", files={"file": (name, text.encode())}, data=form)
    assert uploaded.status_code == 202, uploaded.text
    file_id = str(uploaded.json()["id"])
    for _ in range(600):
        if (await http.get(f"/api/files/{file_id}")).json()["status"] == "ready":
            return file_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} was not ready")


async def test_a_turn_is_given_the_passages_that_answer_it(sqlite_app: InProcess) -> None:
    async with page_http(sqlite_app) as http:
        started = await send(http, content="Hello", max_tokens=1)
        conversation = str(started["meta"]["conversation_id"])
        await attach(http, conversation, "bakery.txt", BAKERY)
        await attach(http, conversation, "harbour.txt", HARBOUR)

        done = await send(
            http, conversation_id=conversation, content="When does the harbour close on Sundays?"
        )
        assert done["done"]["reply_id"]
        database = Database(sqlite_app.database_url)
        try:
            reply = ConversationStore(database, LOCAL_OWNER).branch(conversation)[-1]
        finally:
            database.dispose()
        assert reply.role == "assistant" and reply.sources
        assert reply.sources[0].number == 1 and reply.sources[0].file_name == "harbour.txt"
        thread = (await http.get(f"/c/{conversation}/thread")).text
        assert 'data-testid="sources"' in thread and "harbour.txt" in thread

        # a conversation without files: no sources
        other = await send(http, content="When does the harbour close on Sundays?")
        plain = (await http.get(f"/c/{other['meta']['conversation_id']}/thread")).text
        assert 'data-testid="sources"' not in plain


async def test_citations_are_checked_against_the_sources_the_reply_was_given(
    sqlite_app: InProcess,
) -> None:
    async with page_http(sqlite_app) as http:
        started = await send(http, content="Hello", max_tokens=1)
        conversation = str(started["meta"]["conversation_id"])
        file_id = await attach(http, conversation, "harbour.txt", HARBOUR)
        database = Database(sqlite_app.database_url)
        store = ConversationStore(database, LOCAL_OWNER)
        try:
            parent = store.branch(conversation)[-1].id
            source = Source(1, file_id, "harbour.txt", None, 0)
            draft = MessageDraft(
                "assistant", "It closes at noon [1], as said in [4].", sources=(source,)
            )
            store.append(conversation, parent, [draft])
        finally:
            database.dispose()

        thread = (await http.get(f"/c/{conversation}/thread")).text
        assert '<sup class="citation" data-source="1">[1]</sup>' in thread
        unverified = re.search(r'<sup class="citation unverified"[^>]*>\[4\]</sup>', thread)
        assert unverified is not None and 'data-source="4"' not in unverified[0]
        # the given passage opens in its page, highlighted by its offsets
        passage = (await http.get(f"/api/files/{file_id}/passages/0")).json()
        assert passage["filename"] == "harbour.txt"
        assert passage["page_text"][passage["start"] : passage["end"]] == HARBOUR
        assert (await http.get(f"/api/files/{file_id}/passages/7")).status_code == 404

        # the file deleted: its text is gone, the reply still shows, its source unavailable
        assert (await http.delete(f"/api/files/{file_id}")).status_code == 200
        assert (await http.get(f"/api/files/{file_id}/passages/0")).status_code == 404
        again = (await http.get(f"/c/{conversation}/thread")).text
        assert "It closes at noon" in again and "harbour.txt" in again


async def test_a_new_chats_files_come_with_its_first_message(sqlite_app: InProcess) -> None:
    async with page_http(sqlite_app) as http:
        file_id = await attach(http, None, "harbour.txt", HARBOUR)
        done = await send(
            http, content="When does the harbour close on Sundays?", file_ids=[file_id]
        )
        conversation = str(done["meta"]["conversation_id"])
        listed = (await http.get(f"/api/files?conversation_id={conversation}")).json()["data"]
        assert [f["id"] for f in listed] == [file_id]
        thread = (await http.get(f"/c/{conversation}/thread")).text
        assert 'data-testid="sources"' in thread and "harbour.txt" in thread

        # a file that is not the caller's: 404 before anything is stored
        database = Database(sqlite_app.database_url)
        try:
            before = len(ConversationStore(database, LOCAL_OWNER).list_recent(1000))
            refused = await http.post("/c/send", json={"content": "Hi", "file_ids": ["nope"]})
            after = len(ConversationStore(database, LOCAL_OWNER).list_recent(1000))
        finally:
            database.dispose()
        assert refused.status_code == 404 and refused.json()["error"]["param"] is None
        assert after == before
