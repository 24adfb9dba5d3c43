"""Causerie's archive round trip: export, import into an empty database, export again gives the
same archive (but for its export time), for random trees with branches, hidden nodes, tool
calls, reasoning, attachments (stored and missing), feedback, redactions, sources, flags,
settings, projects, share links and preferences; the archive matches its shipped schema. Each
example imports into a database of its own, empty until then."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causerie.storage import ConversationStore, Database
from causerie.storage.conversations import MessageDraft
from causerie.storage.imports import (
    AttachmentDraft,
    ConversationDraft,
    ImportJournal,
    ImportStore,
    NodeDraft,
)
from causerie.storage.listing import ConversationListing
from causerie.storage.preferences import (
    CUSTOM_INSTRUCTIONS,
    PRIVATE_NAMES,
    ChatSettings,
    Preferences,
)
from causerie.storage.projects import ProjectStore
from causerie.storage.shares import ShareStore
from causerie.storage.tree import MessageTree
from causerie.types import Reasoning, Redactions, Source, ToolCall
from tests.chat.archives import (
    database_factory,
    export_archive,
    import_archive,
    members,
    validate,
)
from tests.chat.imports import row_counts

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=24)
NAME = TEXT.map(str.strip).filter(bool)
ROLES = ("user", "assistant", "system", "tool")

node_plans = st.fixed_dictionaries(
    {
        "parent": st.integers(0, 50),  # which earlier node (modulo), or the root
        "role": st.sampled_from(ROLES),
        "text": TEXT,
        "hidden": st.sampled_from([None, None, "system", "visually_hidden", "empty"]),
        "reasoning": st.booleans(),
        "tool_call": st.booleans(),
        "attachment": st.sampled_from([None, "stored", "missing"]),
        "seconds": st.integers(0, 10**6),
        "micro": st.integers(0, 999_999),
    }
)
conversation_plans = st.fixed_dictionaries(
    {
        "imported": st.booleans(),
        "title": NAME,
        "nodes": st.lists(node_plans, min_size=1, max_size=7),
        "leaf": st.integers(0, 50),
        "pinned": st.booleans(),
        "archived": st.booleans(),
        "feedback": st.lists(
            st.tuples(st.integers(0, 50), st.sampled_from([1, -1, None]), st.none() | NAME),
            max_size=2,
        ),
        "shares": st.integers(0, 2),
        "revoke": st.booleans(),
        "in_project": st.booleans(),
        "settings": st.none() | st.floats(0, 2).map(lambda t: round(t, 2)),
        "instructions": st.none() | NAME,
    }
)
account_plans = st.fixed_dictionaries(
    {
        "conversations": st.lists(conversation_plans, min_size=1, max_size=3),
        "custom_instructions": st.none() | NAME,
        "private_names": st.lists(NAME, max_size=3),
        "project": st.none() | NAME,
    }
)


def imported_conversation(db: Database, owner: str, plan: dict[str, Any]) -> str:
    """A conversation as an import writes it: hidden nodes, reasoning, tool calls, files."""
    nodes: list[NodeDraft] = []
    for index, step in enumerate(plan["nodes"]):
        parent = None if index == 0 or step["parent"] % 3 == 0 else step["parent"] % index
        calls = (ToolCall(f"call-{index}", "python", '{"code": "1+1"}'),)
        nodes.append(
            NodeDraft(
                external_id=f"n{index}",
                parent_external_id=None if parent is None else f"n{parent}",
                role=step["role"],
                content=step["text"],
                created_at=T0 + timedelta(seconds=step["seconds"], microseconds=step["micro"]),
                model="gpt-4o" if step["role"] == "assistant" else None,
                hidden=step["hidden"],
                tool_calls=calls if step["tool_call"] and step["role"] == "assistant" else (),
                tool_call_id=f"call-{index}" if step["role"] == "tool" else None,
                reasoning=Reasoning("thinking…", "Thought for 2s") if step["reasoning"] else None,
                attachments=_attachments(step["attachment"], index),
            )
        )
    draft = ConversationDraft(
        source="chatgpt",
        external_id=f"conv-{uuid.uuid4().hex}",
        title=plan["title"],
        created_at=T0,
        updated_at=T0 + timedelta(days=1),
        nodes=tuple(nodes),
        leaf_external_id=f"n{plan['leaf'] % len(nodes)}",
        model="gpt-4o",
        custom_instructions={"about_user": plan["instructions"], "response_style": ""}
        if plan["instructions"]
        else None,
    )
    return ImportStore(db, owner).write([draft], ImportJournal())[0].conversation_id


def _attachments(kind: str | None, index: int) -> tuple[AttachmentDraft, ...]:
    if kind is None:
        return ()
    data = f"PNG bytes {index}".encode() * (index + 1)
    read = (lambda: data) if kind == "stored" else None
    return (AttachmentDraft(f"image-{index}.png", "image/png", len(data), 8, 8, read=read),)


def native_conversation(db: Database, owner: str, plan: dict[str, Any]) -> str:
    """A conversation made in Causerie: turns with usage, redactions and sources."""
    store = ConversationStore(db, owner)
    conversation = store.create(title=plan["title"], model="local")
    ids: list[str] = []
    for index, step in enumerate(plan["nodes"]):
        parent = None if index == 0 or step["parent"] % 3 == 0 else ids[step["parent"] % index]
        role = step["role"] if step["role"] != "system" else "user"
        draft = MessageDraft(
            role,
            step["text"],
            status="interrupted" if step["reasoning"] else "complete",
            model="local" if role == "assistant" else None,
            finish_reason="stop" if role == "assistant" else None,
            prompt_tokens=index * 3,
            completion_tokens=index,
            tool_calls=(ToolCall(f"c{index}", "f", "{}"),) if step["tool_call"] else (),
            redactions=Redactions("openai", {"email": 1}) if step["hidden"] else None,
            sources=(Source(1, "file-1", "notes.pdf", 2, 5),) if step["attachment"] else (),
        )
        ids.append(store.append(conversation, parent, [draft])[0].id)
    MessageTree(db, owner).select(conversation, ids[plan["leaf"] % len(ids)])
    return conversation


def fill_account(db: Database, owner: str, plan: dict[str, Any]) -> None:
    preferences = Preferences(db, owner)
    if plan["custom_instructions"]:
        preferences.set(CUSTOM_INSTRUCTIONS, plan["custom_instructions"])
    if plan["private_names"]:
        preferences.set(PRIVATE_NAMES, "\n".join(plan["private_names"]))
    project = ProjectStore(db, owner).create(plan["project"]) if plan["project"] else None
    for chat in plan["conversations"]:
        make = imported_conversation if chat["imported"] else native_conversation
        conversation = make(db, owner, chat)
        tree = MessageTree(db, owner)
        messages = tree.every_message(conversation)
        replies = [m for m in messages if m.role == "assistant"]
        for pick, rating, comment in chat["feedback"]:
            if replies:
                tree.set_feedback(conversation, replies[pick % len(replies)].id, rating, comment)
        shares = ShareStore(db, owner)
        for _ in range(chat["shares"]):
            token = shares.create(conversation).token
            if chat["revoke"]:
                shares.revoke(conversation, token)
        ConversationListing(db, owner).change(
            conversation, pinned=chat["pinned"] and not chat["archived"], archived=chat["archived"]
        )
        if chat["settings"] is not None:
            preferences.set_chat_settings(
                conversation, ChatSettings(system_prompt="Be brief.", temperature=chat["settings"])
            )
        if project is not None and chat["in_project"]:
            ProjectStore(db, owner).move(conversation, project.id)


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Database]]:
    yield from database_factory(request, tmp_path)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=account_plans)
def test_export_import_export_gives_the_same_archive(
    databases: Callable[[], Database], plan: dict[str, Any]
) -> None:
    source, target = databases(), databases()
    assert not any(row_counts(target).values())
    owner, restored = f"u-{uuid.uuid4().hex[:12]}", f"u-{uuid.uuid4().hex[:12]}"
    fill_account(source, owner, plan)
    first = export_archive(source, owner, "alice")
    validate(first)
    summary = import_archive(target, first, restored)
    assert summary.created == len(plan["conversations"]) and not summary.skipped
    second = export_archive(target, restored, "alice")
    assert members(second) == members(first)
    # the same archive again writes nothing
    again = import_archive(target, first, restored)
    assert (again.created, again.updated, again.messages) == (0, 0, 0)
    assert members(export_archive(target, restored, "alice")) == members(first)
