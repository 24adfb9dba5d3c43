"""``/api/conversations`` in-process (SQLite and Postgres): every conversation listed in keyset
pages, newest first, with the archived filter; an imported ChatGPT conversation read back as
its whole tree (hidden nodes, reasoning, tool calls, attachments, the selected leaf); changes
validated (400), deletion (204), and errors in OpenAI's envelope. Strangers: the ownership
matrix (tests/auth/test_ownership.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from causerie.storage import ConversationStore, Database
from causerie.storage.projects import ProjectStore
from causerie.storage.tables import API_SOURCE
from causerie.types import LOCAL_OWNER
from tests.archive.chatgpt_factory import export_zip, rich_conversation
from tests.chat.imports import ASSETS, conversation_of, import_bytes, messages_of

pytestmark = pytest.mark.anyio


async def every_page(rest: httpx.AsyncClient, **params: object) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor: object = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await rest.get("/api/conversations", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["object"] == "list" and len(page["data"]) <= int(str(params["limit"]))
        items += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages never ended")


async def test_every_conversation_in_pages_newest_first(
    rest: httpx.AsyncClient, db: Database
) -> None:
    store = ConversationStore(db, LOCAL_OWNER)
    project = ProjectStore(db, LOCAL_OWNER).create(f"P {uuid.uuid4().hex[:6]}", "")
    made = [
        store.create(title="plain"),
        store.create(title="from the API", source=API_SOURCE, model="default"),
        store.create(title="in a project", project_id=project.id),
        store.create(title="pinned"),
        store.create(title="archived"),
    ]
    assert (await rest.patch(f"/api/conversations/{made[3]}", json={"pinned": True})).is_success
    assert (await rest.patch(f"/api/conversations/{made[4]}", json={"archived": True})).is_success

    listed = await every_page(rest, limit=2)
    ids = [str(item["id"]) for item in listed]
    assert len(ids) == len(set(ids))  # no page repeats another's item
    ours = [i for i in ids if i in made]
    assert ours == list(reversed(made))  # newest first, wherever the sidebar puts them
    stamps = [int(str(item["updated_at"])) for item in listed]
    assert stamps == sorted(stamps, reverse=True)
    by_id = {str(item["id"]): item for item in listed}
    assert by_id[made[1]]["source"] == API_SOURCE and by_id[made[1]]["model"] == "default"
    assert by_id[made[2]]["project_id"] == project.id
    assert by_id[made[3]]["pinned"] is True and by_id[made[4]]["archived"] is True
    assert set(by_id[made[0]]) == {
        *("id", "object", "title", "created_at", "updated_at", "model"),
        *("pinned", "archived", "source", "project_id"),
    }

    archived = [str(i["id"]) for i in await every_page(rest, limit=3, archived="true")]
    assert made[4] in archived and not set(made[:4]) & set(archived)
    others = [str(i["id"]) for i in await every_page(rest, limit=50, archived="false")]
    assert set(made[:4]) <= set(others) and made[4] not in others

    for bad in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 101}, {"archived": "maybe"}):
        refused = await rest.get("/api/conversations", params=bad)
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["type"] == "invalid_request_error"


async def test_an_imported_conversation_is_read_back_whole(
    rest: httpx.AsyncClient, db: Database
) -> None:
    external = f"conv-{uuid.uuid4().hex}"
    import_bytes(db, export_zip([rich_conversation(external)], assets=ASSETS))
    conversation = conversation_of(db, external)
    rows = messages_of(db, conversation.id)

    response = await rest.get(f"/api/conversations/{conversation.id}")
    assert response.status_code == 200, response.text
    tree = response.json()
    assert (tree["object"], tree["title"], tree["source"]) == (
        "conversation",
        "Rich conversation",
        "import",
    )
    assert tree["current_leaf_id"] == rows["a2"].id  # the branch that was on screen
    messages = {m["id"]: m for m in tree["messages"]}
    assert set(messages) == {row.id for row in rows.values()}  # every branch, hidden ones too
    order = [m["id"] for m in tree["messages"]]
    for message in tree["messages"]:  # parents before children
        if message["parent_id"] is not None:
            assert order.index(message["parent_id"]) < order.index(message["id"])
    assert messages[rows["sys"].id]["hidden"] and messages[rows["ctx"].id]["hidden"]
    assert messages[rows["u1"].id]["hidden"] is None
    assert messages[rows["a1b"].id]["parent_id"] == rows["u1"].id
    assert messages[rows["a1b"].id]["model"] == "o3"
    assert messages[rows["u1e"].id]["parent_id"] == rows["u1"].parent_id  # an edit: a sibling
    code = messages[rows["code"].id]
    assert code["reasoning"] is not None and code["reasoning"]["text"]
    assert code["tool_calls"] and code["tool_calls"][0]["type"] == "function"
    assert messages[rows["out"].id]["tool_call_id"] == code["tool_calls"][0]["id"]
    files = messages[rows["u1"].id]["attachments"]
    assert [(f["name"], f["missing"]) for f in files][0][1] is None  # stored
    assert any(f["missing"] == "not_in_export" for f in files)  # a placeholder, not dropped
    assert messages[rows["u1"].id]["created_at"] == int(rows["u1"].created_at.timestamp())


async def test_changes_are_validated_and_deletion_is_204(
    rest: httpx.AsyncClient, db: Database
) -> None:
    conversation = ConversationStore(db, LOCAL_OWNER).create(title="Before")
    path = f"/api/conversations/{conversation}"

    changed = await rest.patch(path, json={"title": "  After  ", "pinned": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["title"], changed.json()["pinned"]) == ("After", True)
    archived = (await rest.patch(path, json={"archived": True})).json()
    assert (archived["archived"], archived["pinned"]) == (True, False)  # archiving unpins
    for bad in (
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": 7},
        {"pinned": "maybe"},
        {"archived": None, "owner": "someone"},
        {"pinned": True},  # an archived conversation is not pinned: restore it first
    ):
        refused = await rest.patch(path, json=bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["error"]["type"] == "invalid_request_error"
    summary = ConversationStore(db, LOCAL_OWNER).get(conversation)
    assert (summary.title, summary.pinned, summary.archived) == ("After", False, True)
    restored = (await rest.patch(path, json={"archived": False, "pinned": True})).json()
    assert (restored["archived"], restored["pinned"]) == (False, True)

    deleted = await rest.delete(path)
    assert deleted.status_code == 204 and deleted.content == b""
    for response in (
        await rest.get(path),
        await rest.delete(path),
        await rest.patch(path, json={}),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"
    assert (await rest.get("/api/conversations/no-such-id")).status_code == 404
