"""Causerie archives made by hand, valid against the shipped schema unless a test breaks them:
a message, a conversation, and the zip (manifest plus members, any of them replaceable)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from causerie.archive.causerie_zip import FORMAT, MANIFEST, VERSION, conversation_member

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: int) -> str:
    return (T + timedelta(seconds=seconds)).isoformat()


def message(
    message_id: str, parent: str | None, role: str = "user", seconds: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "id": message_id,
        "parent_id": parent,
        "role": role,
        "content": f"text of {message_id}",
        "status": "complete",
        "model": "local" if role == "assistant" else None,
        "finish_reason": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "created_at": at(seconds),
        "feedback": None,
        "external_id": None,
        **extra,
    }


def conversation(
    conversation_id: str,
    messages: Sequence[Mapping[str, Any]] | None = None,
    leaf: str | None = "m2",
    **extra: Any,
) -> dict[str, Any]:
    """By default a user message and its reply, the reply selected."""
    found = [message("m1", None), message("m2", "m1", "assistant", 5)]
    return {
        "id": conversation_id,
        "title": f"Chat {conversation_id}",
        "model": "local",
        "source": "web",
        "created_at": at(0),
        "updated_at": at(10),
        "current_leaf_id": leaf,
        "pinned": False,
        "archived": False,
        "project_id": None,
        "settings": None,
        "imported_from": None,
        "shares": [],
        "messages": list(messages) if messages is not None else found,
        **extra,
    }


def project(project_id: str, name: str) -> dict[str, Any]:
    return {
        "id": project_id,
        "name": name,
        "instructions": "",
        "archived": False,
        "local_only": False,
        "created_at": at(0),
        "updated_at": at(0),
    }


def account(
    conversations: Sequence[Mapping[str, Any]],
    preferences: Mapping[str, str] | None = None,
    projects: Sequence[Mapping[str, Any]] = (),
    username: str | None = "alice",
) -> dict[str, Any]:
    return {
        "username": username,
        "preferences": dict(preferences or {}),
        "projects": list(projects),
        "conversations": [conversation_member(str(c["id"])) for c in conversations],
    }


def archive_zip(
    conversations: Sequence[Mapping[str, Any]],
    *,
    preferences: Mapping[str, str] | None = None,
    projects: Sequence[Mapping[str, Any]] = (),
    manifest: Any = None,
    members: Mapping[str, bytes | None] | None = None,
) -> bytes:
    """The archive of one account holding ``conversations``; ``manifest`` replaces the
    manifest, ``members`` replaces members by name (None: left out)."""
    written: dict[str, bytes | None] = {
        conversation_member(str(c["id"])): json.dumps(c).encode() for c in conversations
    }
    if manifest is None:
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": at(100),
            "accounts": [account(conversations, preferences, projects)],
        }
    written[MANIFEST] = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    written.update(members or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in written.items():
            if data is not None:
                archive.writestr(name, data)
    return buffer.getvalue()
