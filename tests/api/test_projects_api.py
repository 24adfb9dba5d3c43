"""``/api/projects`` in-process (SQLite and Postgres): a project's life through the REST routes,
a chat moved into it and one started in it answered from the project's files under its
instructions, and its deletion taking its chats and files."""

from __future__ import annotations

import asyncio

import pytest

from causerie.storage import ConversationStore, Database
from causerie.types import LOCAL_OWNER
from tests.chat.test_files_in_turn import HARBOUR, page_http, send
from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio


def last_reply_prompt_tokens(app: InProcess, conversation: str) -> tuple[int, int]:
    database = Database(app.database_url)
    try:
        reply = ConversationStore(database, LOCAL_OWNER).branch(conversation)[-1]
    finally:
        database.dispose()
    return reply.prompt_tokens, len(reply.sources)


async def test_a_projects_life_and_its_chats(app: InProcess) -> None:
    async with page_http(app) as http:
        created = await http.post("/api/projects", json={"name": "Harbour", "instructions": ""})
        assert created.status_code == 201, created.text
        project = created.json()
        assert (project["object"], project["name"], project["conversations"]) == (
            "project",
            "Harbour",
            0,
        )
        pid = project["id"]
        assert (await http.post("/api/projects", json={"name": ""})).status_code == 400
        assert (await http.get("/api/projects/nope")).status_code == 404
        assert pid in [p["id"] for p in (await http.get("/api/projects")).json()["data"]]

        started = await send(http, content="Hello", max_tokens=1)
        conversation = str(started["meta"]["conversation_id"])
        moved = await http.put(f"/api/projects/{pid}/conversations/{conversation}")
        assert moved.json() == {"conversation_id": conversation, "project_id": pid}
        uploaded = await http.post(
            "/api/files", files={"file": ("rules.txt", HARBOUR.encode())}, data={"project_id": pid}
        )
        assert uploaded.status_code == 202 and uploaded.json()["project_id"] == pid
        file_id = uploaded.json()["id"]
        for _ in range(600):
            if (await http.get(f"/api/files/{file_id}")).json()["status"] == "ready":
                break
            await asyncio.sleep(0.05)
        listed = (await http.get(f"/api/files?project_id={pid}")).json()["data"]
        assert [f["id"] for f in listed] == [file_id]

        question = {"conversation_id": conversation, "content": "When does the harbour close?"}
        await send(http, **question)
        plain, sources = last_reply_prompt_tokens(app, conversation)
        assert sources >= 1  # answered from the project's file
        changed = await http.patch(
            f"/api/projects/{pid}",
            json={"instructions": "Always answer as the harbour master, in one short sentence."},
        )
        assert changed.json()["instructions"].startswith("Always answer")
        await send(http, **question)
        instructed, _ = last_reply_prompt_tokens(app, conversation)
        assert instructed > plain + 8  # the project's instructions are in the prompt

        # a chat started in the project: its first question is answered from the project's file
        first = await send(http, content="When does the harbour close?", project_id=pid)
        started_here = str(first["meta"]["conversation_id"])
        _, first_sources = last_reply_prompt_tokens(app, started_here)
        assert first_sources >= 1
        assert (await http.get(f"/api/projects/{pid}")).json()["conversations"] == 2

        archived = await http.patch(f"/api/projects/{pid}", json={"archived": True})
        assert archived.json()["archived"] is True
        assert pid not in [p["id"] for p in (await http.get("/api/projects")).json()["data"]]
        assert pid in [
            p["id"] for p in (await http.get("/api/projects?archived=true")).json()["data"]
        ]

        deleted = await http.delete(f"/api/projects/{pid}")
        assert deleted.json() == {"id": pid, "object": "project", "deleted": True}
        assert (await http.get(f"/c/{conversation}/thread")).status_code == 404
        assert (await http.get(f"/c/{started_here}/thread")).status_code == 404
        assert (await http.get(f"/api/files/{file_id}")).status_code == 404
        assert (await http.get(f"/api/projects/{pid}")).status_code == 404
