"""The Open WebUI reader: its message tree, times, reasoning, images and flags."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from causerie.archive import ImportedConversation, Skipped, open_export
from causerie.archive.openwebui import split_reasoning
from tests.archive.chatgpt_factory import PNG, T0
from tests.archive.openwebui_factory import openwebui_chat


def read(items: list[Any]) -> list[ImportedConversation | Skipped]:
    with open_export(io.BytesIO(json.dumps(items).encode())) as export:
        return list(export)


def read_one(item: dict[str, Any]) -> ImportedConversation:
    (conversation,) = read([item])
    assert isinstance(conversation, ImportedConversation)
    return conversation


def test_the_tree_and_the_selected_branch() -> None:
    chat = read_one(openwebui_chat())
    assert chat.source == "openwebui" and chat.external_id == "owui-1"
    assert [node.id for node in chat.children("q1")] == ["r1", "r2"]
    assert chat.current_leaf_id == "a2"
    assert [node.id for node in chat.branch()] == ["q1", "r2", "q2", "a2"]


def test_children_ids_alone_rebuild_a_missing_parent_id() -> None:
    item = openwebui_chat()
    del item["chat"]["history"]["messages"]["r2"]["parentId"]
    assert read_one(item).node("r2").parent_id == "q1"


def test_seconds_and_milliseconds_are_both_read() -> None:
    item = openwebui_chat()
    chat = read_one(item)
    assert chat.created_at == datetime.fromtimestamp(int(T0), UTC)
    assert chat.node("r1").created_at == datetime.fromtimestamp(int(T0) + 20, UTC)
    assert chat.node("a2").created_at == chat.node("q2").created_at  # none: its parent's
    del item["created_at"]  # only chat.timestamp (milliseconds) is left
    assert read_one(item).created_at == datetime.fromtimestamp(int(T0), UTC)
    item["chat"]["history"]["messages"]["r1"]["timestamp"] = (int(T0) + 20) * 1000
    assert read_one(item).node("r1").created_at == datetime.fromtimestamp(int(T0) + 20, UTC)


def test_inline_reasoning_is_taken_out_of_the_reply() -> None:
    node = read_one(openwebui_chat()).node("r2")
    assert node.text == "It is Paris."
    assert node.reasoning is not None
    assert node.reasoning.text == "First, recall the capital.\nThen answer."
    assert node.reasoning.summary == "Thought for 3 seconds"


def test_think_tags_count_as_reasoning_and_plain_details_stay() -> None:
    text, reasoning = split_reasoning("<think>\nhmm\n</think>\nHello")
    assert (text, reasoning and reasoning.text) == ("Hello", "hmm")
    plain = "<details><summary>Spoiler</summary>It was him.</details>"
    assert split_reasoning(plain) == (plain, None)


def test_images_inline_are_in_the_export_and_linked_ones_are_not() -> None:
    inline, linked = read_one(openwebui_chat()).node("q1").attachments
    assert inline.in_archive and inline.mime_type == "image/png"
    with inline.open() as stream:
        assert stream.read() == PNG
    assert not linked.in_archive and linked.asset_id == "abc123" and linked.is_image


def test_models_flags_tags_status_and_system_prompt() -> None:
    chat = read_one(openwebui_chat(archived=True))
    assert (chat.model, chat.node("r2").model, chat.node("q1").model) == (
        "llama3:8b",
        "qwq:32b",
        None,
    )
    assert chat.archived and chat.pinned and chat.tags == ("geography",)
    assert chat.node("a2").status == "interrupted" and chat.node("r1").status == "complete"
    assert chat.custom_instructions is not None
    assert chat.custom_instructions.response_style == "Be terse."
    assert chat.title == "Capitals"


def test_an_old_export_with_only_the_flat_message_list() -> None:
    item = openwebui_chat()
    del item["chat"]["history"]
    for message in item["chat"]["messages"]:
        del message["parentId"], message["childrenIds"]
    chat = read_one(item)
    assert [node.id for node in chat.branch()] == ["q1", "r2", "q2", "a2"]
    assert chat.current_leaf_id == "a2"


def test_a_bad_chat_is_skipped_and_the_others_read() -> None:
    empty = openwebui_chat("owui-empty")
    empty["chat"]["history"] = {"messages": {}, "currentId": None}
    empty["chat"]["messages"] = []
    items = read(
        [openwebui_chat("owui-a"), {"id": "x", "chat": "nope"}, empty, openwebui_chat("owui-b")]
    )
    assert [type(item).__name__ for item in items] == [
        "ImportedConversation",
        "Skipped",
        "Skipped",
        "ImportedConversation",
    ]
    assert isinstance(items[2], Skipped) and items[2].reason == "has no messages"
    assert items[2].title == "Capitals" and items[2].external_id == "owui-empty"
