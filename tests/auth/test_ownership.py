"""The ownership matrix: user B reaches none of user A's objects — conversations, messages,
share links, API keys, imports and their attachments, the data export — through the page
(B's session), the API (B's key, every header that carries one), or a credential of the wrong
kind. Each refusal is a 404 (or a 401 for the wrong kind of credential), never a hint that the
object exists; afterwards A's data is unchanged.

Runs against a real server, on SQLite then on Postgres.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from causerie.auth.accounts import Accounts
from causerie.storage import ConversationStore, Database
from causerie.storage.attachments import MessageAttachments
from causerie.storage.shares import ShareStore
from causerie.storage.users import Account
from tests.archive.chatgpt_factory import PNG, Conversation, export_zip, rich_conversation
from tests.chat.imports import ASSETS, conversation_of
from tests.conftest import Server
from tests.helpers import accounts_for, csrf_token_of

SECRET_WORD = "zanzibarquokka"


@dataclass
class Side:
    account: Account
    key: str
    key_id: str
    page: httpx.Client  # signed in through a session cookie, sending its CSRF token
    conversation: str = ""
    question: str = ""
    reply: str = ""
    share: str = ""


def sign_in(server: Server, accounts: Accounts, account: Account) -> httpx.Client:
    token = accounts.credentials.start_session(account.id)
    page = httpx.Client(base_url=server.url, timeout=60, cookies={"causerie_session": token})
    page.headers["X-CSRF-Token"] = csrf_token_of(page.get("/").text)
    return page


def make_side(server: Server, accounts: Accounts, name: str) -> Side:
    account = accounts.create_user("cli", f"{name}{uuid.uuid4().hex[:8]}", "password-123")
    info, key = accounts.credentials.create_key(account.id, name)
    return Side(account, key, info.id, sign_in(server, accounts, account))


@dataclass
class World:
    server: Server
    database: Database
    a: Side
    b: Side


@pytest.fixture(scope="module")
def world(accounts_server: Server) -> Iterator[World]:
    database, accounts = accounts_for(accounts_server)
    if not accounts.users.any():
        accounts.create_user("cli", "root", "root-password", role="admin")
    a, b = make_side(accounts_server, accounts, "a"), make_side(accounts_server, accounts, "b")
    for side, word in ((a, SECRET_WORD), (b, "otherword")):
        with openai.OpenAI(base_url=accounts_server.api_url, api_key=side.key) as api:
            raw = api.chat.completions.with_raw_response.create(
                model="default",
                messages=[{"role": "user", "content": f"Say {word}."}],
                max_tokens=3,
                temperature=0,
            )
        side.conversation = raw.headers["x-causerie-conversation-id"]
        branch = ConversationStore(database, side.account.id).branch(side.conversation)
        side.question, side.reply = branch[0].id, branch[-1].id
        side.share = ShareStore(database, side.account.id).create(side.conversation).token
    yield World(accounts_server, database, a, b)
    a.page.close()
    b.page.close()
    database.dispose()


def page_reads(w: World) -> list[str]:
    c = w.a.conversation
    return [f"/c/{c}", f"/c/{c}/thread", f"/c/{c}/export.md", f"/c/{c}/export.json"]


def page_actions(w: World) -> list[tuple[str, dict[str, object]]]:
    """Every state-changing page route, aimed at A's objects."""
    c, a = w.a.conversation, w.a
    return [
        (f"/c/{c}/rename", {"title": "taken over"}),
        (f"/c/{c}/delete", {}),
        (f"/c/{c}/pin", {"value": True}),
        (f"/c/{c}/archive", {"value": True}),
        (f"/c/{c}/select", {"message_id": a.question}),
        (f"/c/{c}/feedback", {"message_id": a.reply, "rating": -1}),
        (f"/c/{c}/title", {}),
        (f"/c/{c}/share", {}),
        (f"/c/{c}/share/revoke", {"token": a.share}),
        (f"/c/{c}/settings", {"system_prompt": "x"}),
        ("/c/send", {"conversation_id": c, "content": "hi"}),
        # A's objects reached through B's own conversation
        (f"/c/{w.b.conversation}/select", {"message_id": a.question}),
        (f"/c/{w.b.conversation}/feedback", {"message_id": a.reply, "rating": 1}),
        (f"/c/{w.b.conversation}/share/revoke", {"token": a.share}),
        ("/c/send", {"conversation_id": w.b.conversation, "parent_id": a.reply, "content": "x"}),
    ]


def test_b_reads_none_of_a_through_the_page(world: World) -> None:
    for path in page_reads(world):
        response = world.b.page.get(path)
        assert response.status_code == 404, path
        assert SECRET_WORD not in response.text, path
    assert world.a.conversation not in world.b.page.get("/").text  # sidebar
    hits = world.b.page.get("/search", params={"q": SECRET_WORD}).text
    assert world.a.conversation not in hits
    # A sees their own (the matrix is not passing because nothing works)
    assert world.a.page.get(f"/c/{world.a.conversation}").status_code == 200
    assert world.a.conversation in world.a.page.get("/search", params={"q": SECRET_WORD}).text


def test_b_changes_none_of_a_through_the_page(world: World) -> None:
    for path, body in page_actions(world):
        response = world.b.page.post(path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["type"] == "not_found_error"
    assert_a_unchanged(world)


def test_b_cannot_revoke_a_s_key(world: World) -> None:
    accounts = Accounts(world.database)
    with pytest.raises(Exception, match="not found"):
        accounts.credentials.revoke_key(world.b.account.id, world.a.key_id)
    paths = [f"/account/keys/{world.a.key_id}/revoke"]
    for path in paths:
        response = world.b.page.post(path, data={})
        assert response.status_code == 404, path
    with openai.OpenAI(base_url=world.server.api_url, api_key=world.a.key) as api:
        assert api.models.list().data  # A's key still works


def test_the_wrong_kind_of_credential_reaches_nothing(world: World) -> None:
    """A key is no page credential, a session is no API credential."""
    with httpx.Client(base_url=world.server.url, timeout=60) as anonymous:
        for path in page_reads(world):
            for headers in ({"Authorization": f"Bearer {world.a.key}"}, {"api-key": world.a.key}):
                response = anonymous.get(path, headers=headers)
                assert response.status_code == 401, path
                assert SECRET_WORD not in response.text
            browser = anonymous.get(path, headers={"Accept": "text/html"})
            assert browser.status_code == 303 and "/login" in browser.headers["location"]
        for path, body in page_actions(world):
            response = anonymous.post(path, json=body, headers={"api-key": world.a.key})
            assert response.status_code == 401, path
    with httpx.Client(base_url=world.server.url, cookies=world.a.page.cookies) as with_session:
        assert with_session.get("/v1/models").status_code == 401
        assert with_session.get(f"/c/{world.a.conversation}").status_code == 200  # the page's
    assert_a_unchanged(world)


@pytest.mark.parametrize("header", ["authorization", "api-key"])
def test_b_s_key_does_not_continue_a_s_conversation(world: World, header: str) -> None:
    history = ConversationStore(world.database, world.a.account.id).branch(world.a.conversation)
    messages = [{"role": m.role, "content": m.content} for m in history]
    messages.append({"role": "user", "content": "And then?"})
    value = f"Bearer {world.b.key}" if header == "authorization" else world.b.key
    response = httpx.post(
        f"{world.server.api_url}/chat/completions",
        json={"model": "default", "messages": messages, "max_tokens": 2},
        headers={header: value},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["x-causerie-conversation-id"] != world.a.conversation
    assert_a_unchanged(world)


def assert_a_unchanged(world: World) -> None:
    store = ConversationStore(world.database, world.a.account.id)
    summary = store.get(world.a.conversation)
    assert summary.title != "taken over" and not summary.pinned and not summary.archived
    assert [m.id for m in store.branch(world.a.conversation)] == [world.a.question, world.a.reply]
    assert store.count_messages(world.a.conversation) == 2
    assert ShareStore(world.database).get(world.a.share).conversation_id == world.a.conversation


def test_b_reaches_none_of_a_s_files_and_a_page_upload_needs_its_csrf_token(
    world: World,
) -> None:
    """Files join the matrix: through B's key or B's session, A's file is 404 (status,
    download, a citation's passage, deletion, attaching to A's conversation, sending it with
    a message); anonymous is 401; a signed-in page's upload without its CSRF token is 403. A
    still has the file."""
    canary = f"canary-{uuid.uuid4().hex[:8]}"
    a_key = {"Authorization": f"Bearer {world.a.key}"}
    with httpx.Client(base_url=world.server.url, timeout=60) as http:
        upload = http.post("/api/files", files={"file": ("a.txt", canary.encode())}, headers=a_key)
        assert upload.status_code == 202, upload.text
        file_id = upload.json()["id"]
        assert http.post("/api/files", files={"file": ("x.txt", b"x")}).status_code == 401
        b_key = {"Authorization": f"Bearer {world.b.key}"}
        for client, headers in ((http, b_key), (world.b.page, {})):
            for path in (
                f"/api/files/{file_id}",
                f"/api/files/{file_id}/content",
                f"/api/files/{file_id}/passages/0",
            ):
                response = client.get(path, headers=headers)
                assert response.status_code == 404 and canary not in response.text, path
            assert client.delete(f"/api/files/{file_id}", headers=headers).status_code == 404
            listed = client.get("/api/files", headers=headers).json()["data"]
            assert file_id not in [f["id"] for f in listed]
            attach = client.post(
                "/api/files",
                files={"file": ("b.txt", b"b's text")},
                data={"conversation_id": world.a.conversation},
                headers=headers,
            )
            assert attach.status_code == 404
        no_token = httpx.post(
            f"{world.server.url}/api/files",
            files={"file": ("b.txt", b"b's text")},
            cookies=world.b.page.cookies,
        )
        assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
        assert world.b.page.post("/api/files", files={"file": ("b.txt", b"ok")}).status_code == 202
        sent = world.b.page.post(
            "/c/send", json={"content": "What is in it?", "file_ids": [file_id]}
        )
        assert sent.status_code == 404 and canary not in sent.text
        assert http.get(f"/api/files/{file_id}/content", headers=a_key).content == canary.encode()


def test_b_reaches_none_of_a_s_projects(world: World) -> None:
    """Projects join the matrix: through B's key or session, A's project is 404 (read, change,
    delete, a conversation moved in, a file uploaded into it, its page, a chat started in it);
    A's project is untouched."""
    a_key = {"Authorization": f"Bearer {world.a.key}"}
    b_key = {"Authorization": f"Bearer {world.b.key}"}
    with httpx.Client(base_url=world.server.url, timeout=60) as http:
        made = http.post("/api/projects", json={"name": "A's secret plans"}, headers=a_key)
        assert made.status_code == 201, made.text
        pid = made.json()["id"]
        for client, headers in ((http, b_key), (world.b.page, {})):
            assert client.get(f"/api/projects/{pid}", headers=headers).status_code == 404
            change = client.patch(f"/api/projects/{pid}", json={"name": "B's"}, headers=headers)
            assert change.status_code == 404
            assert client.delete(f"/api/projects/{pid}", headers=headers).status_code == 404
            moved = client.put(
                f"/api/projects/{pid}/conversations/{world.a.conversation}", headers=headers
            )
            assert moved.status_code == 404
            upload = client.post(
                "/api/files",
                files={"file": ("b.txt", b"b's text")},
                data={"project_id": pid},
                headers=headers,
            )
            assert upload.status_code == 404
            listed = client.get("/api/projects", headers=headers).json()["data"]
            assert pid not in [p["id"] for p in listed]
        # B's pages: A's project page is not found, a chat cannot be started in it, and B's
        # sidebar does not name it
        assert world.b.page.get(f"/p/{pid}").status_code == 404
        started = world.b.page.post("/c/send", json={"content": "Hi", "project_id": pid})
        assert started.status_code == 404
        assert "secret plans" not in world.b.page.get("/").text
        assert http.post("/api/projects", json={"name": "x"}).status_code == 401
        assert http.get(f"/api/projects/{pid}", headers=a_key).json()["name"] == "A's secret plans"


def test_b_reaches_none_of_a_s_stored_responses(world: World) -> None:
    """A stored response (``/v1/responses``) is A's: through B's key it cannot be read,
    deleted, nor continued (404 each); A still reads it."""
    a_key = {"Authorization": f"Bearer {world.a.key}"}
    b_key = {"Authorization": f"Bearer {world.b.key}"}
    with httpx.Client(base_url=world.server.url, timeout=60) as http:
        made = http.post(
            "/v1/responses",
            json={"model": "default", "input": "A's secret plans", "max_output_tokens": 2},
            headers=a_key,
        )
        assert made.status_code == 200, made.text
        rid = made.json()["id"]
        assert http.get(f"/v1/responses/{rid}", headers=b_key).status_code == 404
        assert http.delete(f"/v1/responses/{rid}", headers=b_key).status_code == 404
        continued = http.post(
            "/v1/responses",
            json={"model": "default", "input": "Go on", "previous_response_id": rid},
            headers=b_key,
        )
        assert continued.status_code == 404
        assert http.get(f"/v1/responses/{rid}").status_code == 401
        assert http.get(f"/v1/responses/{rid}", headers=a_key).json()["id"] == rid


def test_b_reaches_none_of_a_s_conversations_through_the_rest_api(world: World) -> None:
    """``/api/conversations`` joins the matrix: through B's key or B's session, A's
    conversation is 404 (read, change, delete) and absent from B's list, archived or not;
    anonymous is 401; a signed-in page's change without its CSRF token is 403. A still reads
    it whole."""
    a_key = {"Authorization": f"Bearer {world.a.key}"}
    b_key = {"Authorization": f"Bearer {world.b.key}"}
    path = f"/api/conversations/{world.a.conversation}"
    with httpx.Client(base_url=world.server.url, timeout=60) as http:
        for client, headers in ((http, b_key), (world.b.page, {})):
            read = client.get(path, headers=headers)
            assert read.status_code == 404 and SECRET_WORD not in read.text
            assert read.json()["error"]["type"] == "not_found_error"
            for change in ({"title": "taken over"}, {"pinned": True}, {"archived": True}):
                assert client.patch(path, json=change, headers=headers).status_code == 404
            assert client.delete(path, headers=headers).status_code == 404
            for archived in ("true", "false"):
                listed = client.get(
                    "/api/conversations", params={"archived": archived}, headers=headers
                )
                assert listed.status_code == 200
                # (B's own conversations may hold the word: B resent A's history above)
                assert world.a.conversation not in [c["id"] for c in listed.json()["data"]]
            own = client.get(f"/api/conversations/{world.b.conversation}", headers=headers)
            assert own.status_code == 200  # B reads B's: the refusals are about ownership
        assert http.get(path).status_code == 401
        assert http.get("/api/conversations").status_code == 401
        no_token = httpx.patch(
            f"{world.server.url}{path}", json={"title": "x"}, cookies=world.a.page.cookies
        )
        assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
        whole = http.get(path, headers=a_key).json()
        assert [m["id"] for m in whole["messages"]] == [world.a.question, world.a.reply]
    assert_a_unchanged(world)


def import_ended(http: httpx.Client, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """The import job at ``path`` once it ended."""
    for _ in range(600):
        job: dict[str, Any] = http.get(path, headers=headers).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"the import never ended: {job}")


def test_b_reaches_none_of_a_s_imports(world: World) -> None:
    """Imports join the matrix: A's import job, through B's key or B's session, is 404 and
    says nothing of A's export; anonymous is 401 (upload and status); a signed-in page's
    upload without its CSRF token is 403. A reads the job to its end."""
    a_key = {"Authorization": f"Bearer {world.a.key}"}
    b_key = {"Authorization": f"Bearer {world.b.key}"}
    chat = Conversation(f"c-{uuid.uuid4().hex}", title=f"{SECRET_WORD} plans")
    chat.add("u", chat.root(), "user", "Hello", at=1)
    export = json.dumps([chat.build("u")]).encode()
    with httpx.Client(base_url=world.server.url, timeout=60) as http:
        made = http.post("/api/imports", files={"file": ("a.json", export)}, headers=a_key)
        assert made.status_code == 202, made.text
        path = f"/api/imports/{made.json()['id']}"
        for client, headers in ((http, b_key), (world.b.page, {})):
            seen = client.get(path, headers=headers)
            assert seen.status_code == 404 and SECRET_WORD not in seen.text
            assert seen.json()["error"]["type"] == "not_found_error"
        assert http.get(path).status_code == 401
        anonymous = http.post("/api/imports", files={"file": ("x.json", export)})
        assert anonymous.status_code == 401
        no_token = httpx.post(
            f"{world.server.url}/api/imports",
            files={"file": ("b.json", export)},
            cookies=world.b.page.cookies,
        )
        assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
        own = world.b.page.post("/api/imports", files={"file": ("b.json", b"[]")})
        assert own.status_code == 202  # with its token, B's page imports into B's account
        assert world.b.page.get(f"/api/imports/{own.json()['id']}").status_code == 200
        assert http.get(f"/api/imports/{own.json()['id']}", headers=a_key).status_code == 404
        job = import_ended(http, path, a_key)
        assert job["state"] == "done" and job["summary"]["created"] == 1, job
        for client, headers in ((http, b_key), (world.b.page, {})):
            assert SECRET_WORD not in client.get(path, headers=headers).text


def test_b_sees_none_of_a_s_imported_attachments(world: World) -> None:
    """An image A imported is served to A's page alone: B's page gets a 404 saying nothing,
    an API key (not a page) and no credential at all get a 401."""
    external = f"rich-{uuid.uuid4().hex[:8]}"
    export = export_zip([rich_conversation(external)], assets=ASSETS)
    a_key = {"Authorization": f"Bearer {world.a.key}"}
    with httpx.Client(base_url=world.server.url, timeout=60) as http:
        made = http.post("/api/imports", files={"file": ("a.zip", export)}, headers=a_key)
        assert made.status_code == 202, made.text
        job = import_ended(http, f"/api/imports/{made.json()['id']}", a_key)
        assert job["state"] == "done", job
        owner = world.a.account.id
        conversation = conversation_of(world.database, external, owner).id
        files = MessageAttachments(world.database, owner).for_conversation(conversation)
        image = next(f for found in files.values() for f in found if f.missing is None)
        path = f"/attachments/{image.id}"
        assert world.a.page.get(path).content == PNG
        refused = world.b.page.get(path)
        assert refused.status_code == 404 and "cat.png" not in refused.text
        assert http.get(path, headers=a_key).status_code == 401
        assert http.get(path).status_code == 401
        assert f'src="{path}"' in world.a.page.get(f"/c/{conversation}").text


def test_b_s_export_holds_none_of_a(world: World) -> None:
    """``GET /api/export`` joins the matrix: B's archive, through B's key or B's session,
    holds B's conversation and nothing of A's (no conversation, share link or word of it);
    anonymous is 401; A's archive is A's."""
    a_key = {"Authorization": f"Bearer {world.a.key}"}
    b_key = {"Authorization": f"Bearer {world.b.key}"}
    with httpx.Client(base_url=world.server.url, timeout=60) as http:
        for client, headers in ((http, b_key), (world.b.page, {})):
            response = client.get("/api/export", headers=headers)
            assert response.status_code == 200, response.text
            with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                names = archive.namelist()
                everything = b"".join(archive.read(name) for name in names)
                manifest = json.loads(archive.read("causerie-archive.json"))
            assert f"conversations/{world.b.conversation}.json" in names
            assert f"conversations/{world.a.conversation}.json" not in names
            assert world.a.conversation.encode() not in everything
            assert world.a.share.encode() not in everything
            assert [a["username"] for a in manifest["accounts"]] == [world.b.account.username]
        assert http.get("/api/export").status_code == 401
        own = http.get("/api/export", headers=a_key)
        with zipfile.ZipFile(io.BytesIO(own.content)) as archive:
            assert f"conversations/{world.a.conversation}.json" in archive.namelist()
            assert world.a.share.encode() in archive.read(
                f"conversations/{world.a.conversation}.json"
            )
    assert_a_unchanged(world)
