"""Builds Open WebUI chat exports (Settings › Chats › Export) for the reader's tests."""

from __future__ import annotations

import base64
from typing import Any

from tests.archive.chatgpt_factory import PNG, T0

SECONDS = int(T0)
REASONING = (
    '<details type="reasoning" done="true" duration="3">\n'
    "<summary>Thought for 3 seconds</summary>\n"
    "> First, recall the capital.\n"
    "> Then answer.\n"
    "</details>\n"
)


def message(
    node_id: str,
    parent: str | None,
    role: str,
    content: str,
    at: int | None,
    children: list[str],
    **extra: Any,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": node_id,
        "parentId": parent,
        "childrenIds": children,
        "role": role,
        "content": content,
        **extra,
    }
    if at is not None:
        found["timestamp"] = SECONDS + at
    return found


def openwebui_chat(chat_id: str = "owui-1", **extra: Any) -> dict[str, Any]:
    """A chat with a regenerated answer (r1, r2 under q1), inline reasoning in r2, an inline
    image and a server-side one on q1, and currentId on r2's follow-up (a2)."""
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    messages = {
        "q1": message(
            "q1",
            None,
            "user",
            "Capital of France?",
            10,
            ["r1", "r2"],
            models=["llama3:8b"],
            files=[
                {"type": "image", "url": data_url},
                {"type": "image", "url": "/api/v1/files/abc123/content"},
            ],
        ),
        "r1": message("r1", "q1", "assistant", "Paris.", 20, [], model="llama3:8b", done=True),
        "r2": message(
            "r2",
            "q1",
            "assistant",
            REASONING + "It is Paris.",
            30,
            ["q2"],
            model="qwq:32b",
            done=True,
        ),
        "q2": message("q2", "r2", "user", "And Italy?", 40, ["a2"]),
        "a2": message("a2", "q2", "assistant", "Rome", None, [], model="qwq:32b", done=False),
    }
    return {
        "id": chat_id,
        "user_id": "user-1",
        "title": "Capitals",
        "chat": {
            "id": "",
            "title": "Capitals",
            "models": ["llama3:8b"],
            "params": {"system": "Be terse."},
            "history": {"messages": messages, "currentId": "a2"},
            "messages": [messages[key] for key in ("q1", "r2", "q2", "a2")],
            "tags": [],
            "timestamp": SECONDS * 1000,  # milliseconds, as Open WebUI writes this one
            "files": [],
        },
        "updated_at": SECONDS + 100,
        "created_at": SECONDS,
        "share_id": None,
        "archived": False,
        "pinned": True,
        "meta": {"tags": ["geography"]},
        "folder_id": None,
        **extra,
    }
