"""The ChatGPT reader: one rich conversation read in every way an export can write it."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from causerie.archive import ImportedConversation, Skipped, open_export
from causerie.archive.values import TITLE_MAX
from tests.archive.chatgpt_factory import (
    PNG,
    T0,
    Conversation,
    export_zip,
    image_part,
    rich_conversation,
)


def read(data: bytes) -> tuple[list[ImportedConversation], list[Skipped]]:
    conversations: list[ImportedConversation] = []
    skipped: list[Skipped] = []
    with open_export(io.BytesIO(data)) as export:
        for item in export:
            (conversations if isinstance(item, ImportedConversation) else skipped).append(item)
    return conversations, skipped


def read_one(item: dict[str, Any]) -> ImportedConversation:
    conversations, skipped = read(json.dumps([item]).encode())
    assert skipped == []
    return conversations[0]


@pytest.fixture(params=[True, False], ids=["with-children", "without-children"])
def rich(request: pytest.FixtureRequest) -> ImportedConversation:
    return read_one(rich_conversation(children=request.param))


def test_every_branch_is_kept_and_the_tree_comes_from_parent_links(
    rich: ImportedConversation,
) -> None:
    ids = {node.id for node in rich.nodes}
    assert {"a1", "a1b", "u1e", "a3"} <= ids
    assert [node.id for node in rich.children("u1")] == ["a1", "a1b"]
    assert [node.id for node in rich.children("ctx")] == ["u1", "u1e"]
    placed: set[str] = set()
    for node in rich.nodes:  # parents before children
        assert node.parent_id is None or node.parent_id in placed
        placed.add(node.id)


def test_the_selected_branch_is_current_node_back_to_the_root(rich: ImportedConversation) -> None:
    assert rich.current_leaf_id == "a2"
    path = [node.id for node in rich.branch()]
    assert path == ["client-created-root", "sys", "ctx", "u1", "a1b", "u2", "code", "out", "a2"]


@pytest.mark.parametrize("current", [None, "no-such-node"])
def test_a_null_or_dangling_current_node_selects_the_newest_leaf(current: str | None) -> None:
    item = rich_conversation()
    item["current_node"] = current
    assert read_one(item).current_leaf_id == "a3"


def test_hidden_nodes_are_kept_with_their_reason(rich: ImportedConversation) -> None:
    hidden = {node.id: node.hidden for node in rich.nodes if node.hidden}
    assert hidden == {
        "client-created-root": "empty",
        "sys": "system",
        "ctx": "user_editable_context",
    }


def test_custom_instructions_are_kept_apart_never_as_a_message(rich: ImportedConversation) -> None:
    assert rich.custom_instructions is not None
    assert rich.custom_instructions.about_user == "I live in Lyon."
    assert rich.custom_instructions.response_style == "Answer briefly."
    assert all("Lyon" not in node.text for node in rich.nodes)


def test_all_text_parts_are_kept_and_images_become_attachments(rich: ImportedConversation) -> None:
    u1 = rich.node("u1")
    assert u1.text == "What is in this picture?\n\nAnd this one?"
    present, missing = u1.attachments
    assert (present.asset_id, present.name, present.mime_type) == (
        "file-IMG1",
        "cat.png",
        "image/png",
    )
    assert (present.width, present.height, present.size) == (64, 32, len(PNG))
    assert not present.in_archive  # a bare conversations.json brings no files
    assert missing.asset_id == "file-GONE" and not missing.in_archive


def test_reasoning_is_folded_into_the_reply_it_led_to(rich: ImportedConversation) -> None:
    code = rich.node("code")
    assert code.parent_id == "u2"
    assert code.absorbed_ids == ("th", "rc")
    assert code.reasoning is not None
    assert code.reasoning.text == "**Planning**\n\nUse matplotlib."
    assert code.reasoning.summary == "Thought for 3s"
    assert "th" not in {node.id for node in rich.nodes}
    assert all("Thought for" not in node.text for node in rich.nodes)


def test_code_is_a_tool_call_and_its_output_answers_it(rich: ImportedConversation) -> None:
    code, out = rich.node("code"), rich.node("out")
    assert code.role == "assistant" and code.text == ""
    (call,) = code.tool_calls
    assert call.name == "python"
    assert json.loads(call.arguments) == {"code": "print(2 ** 2)", "language": "python"}
    assert (out.role, out.text, out.tool_call_id, out.tool_name) == ("tool", "4", call.id, "python")
    assert out.content_type == "execution_output"


def test_citation_markers_become_their_references(rich: ImportedConversation) -> None:
    assert rich.node("a2").text == "Squares grow fast ([Wiki](https://example.org/sq))."


def test_models_per_message_and_the_conversation_default(rich: ImportedConversation) -> None:
    assert rich.model == "gpt-4o"
    assert rich.node("a1b").model == "o3"
    assert rich.node("a3").model == "gpt-4o"  # no metadata at all: the default
    assert rich.node("u1").model is None


def test_times_are_utc_and_missing_ones_inherit_the_parents(rich: ImportedConversation) -> None:
    assert rich.created_at == datetime.fromtimestamp(T0, UTC)
    assert rich.updated_at == datetime.fromtimestamp(T0 + 3600, UTC)
    assert rich.node("a1").created_at == datetime.fromtimestamp(T0 + 20, UTC)
    assert rich.node("sys").created_at == rich.created_at  # none of its own


def test_a_missing_or_empty_title_is_none_and_a_huge_one_is_cut() -> None:
    for title in (None, "", "   "):
        item = rich_conversation()
        item["title"] = title
        assert read_one(item).title is None
    item = rich_conversation()
    item["title"] = "x" * 100_000
    item["default_model_slug"] = "m" * 5000
    conversation = read_one(item)
    assert conversation.title == "x" * TITLE_MAX
    assert conversation.model is not None and len(conversation.model) == 200


def test_flags_archived_and_starred() -> None:
    item = rich_conversation()
    item["is_archived"] = True
    item["is_starred"] = True
    conversation = read_one(item)
    assert conversation.archived and conversation.pinned
    item = rich_conversation()
    item["pinned_time"] = T0
    item["is_archived"] = "yes"  # not a boolean: not set
    conversation = read_one(item)
    assert conversation.pinned and not conversation.archived


def test_one_malformed_conversation_is_skipped_with_a_reason_the_others_read() -> None:
    broken = rich_conversation("conv-broken")
    del broken["mapping"]
    items = [rich_conversation("conv-1"), broken, "not an object", rich_conversation("conv-2")]
    items.append({"id": "conv-empty", "title": "Empty", "mapping": {}})
    conversations, skipped = read(json.dumps(items).encode())
    assert [c.external_id for c in conversations] == ["conv-1", "conv-2"]
    reasons = {(s.external_id, s.title): s.reason for s in skipped}
    assert "no mapping" in reasons[("conv-broken", "Rich conversation")]
    assert "not a JSON object" in reasons[(None, None)]
    assert "empty" in reasons[("conv-empty", "Empty")]
    assert sorted(s.index for s in skipped) == [1, 2, 4]


def test_odd_shapes_inside_a_conversation_do_not_stop_it() -> None:
    c = Conversation("conv-odd")
    root = c.root()
    c.add("u", root, "user", {"content_type": "text", "parts": ["Hi", None, 3, {"x": 1}]}, at=1)
    c.add("a", "u", "assistant", {"content_type": "text"}, at=2, with_metadata=False)
    c.add("w", "a", "critic", "who am I?", at=3)
    c.mapping["lost"] = {"id": "lost", "message": "garbage", "parent": "nowhere"}
    conversation = read_one(c.build("w"))
    assert conversation.node("u").text == "Hi"
    assert conversation.node("a").text == ""
    assert conversation.node("w").hidden == "unknown_role"
    assert (
        conversation.node("lost").parent_id is None and conversation.node("lost").hidden == "empty"
    )


def test_other_content_types_read_sensibly() -> None:
    c = Conversation("conv-types")
    root = c.root()
    c.add("u", root, "user", "Search it", at=1)
    c.add("call", "u", "assistant", '{"query": "lyon"}', at=2, recipient="web.run")
    c.add(
        "quote",
        "call",
        "tool",
        {
            "content_type": "tether_quote",
            "url": "https://example.org",
            "domain": "example.org",
            "title": "Example",
            "text": "Line one\nLine two",
        },
        at=3,
        name="web.run",
    )
    c.add(
        "err",
        "quote",
        "tool",
        {"content_type": "system_error", "name": "Timeout", "text": "took too long"},
        at=4,
        name="web.run",
    )
    c.add("bio", "err", "assistant", "Remember Lyon", at=5, recipient="bio")
    c.add("stop", "bio", "assistant", "Half a rep", at=6, status="in_progress")
    conversation = read_one(c.build("stop"))
    (call,) = conversation.node("call").tool_calls
    assert (call.name, call.arguments) == ("web.run", '{"query": "lyon"}')
    assert (
        conversation.node("quote").text
        == "> Line one\n> Line two\n\n— [Example](https://example.org)"
    )
    assert conversation.node("quote").tool_call_id == call.id
    assert conversation.node("err").text == "Timeout: took too long"
    assert conversation.node("err").tool_call_id == call.id  # through the tool node above
    assert json.loads(conversation.node("bio").tool_calls[0].arguments) == {
        "input": "Remember Lyon"
    }
    assert conversation.node("stop").status == "interrupted"


def test_a_reasoning_step_with_no_reply_stays_a_node_of_its_own() -> None:
    c = Conversation("conv-thinking")
    c.add("u", c.root(), "user", "Think", at=1)
    c.add(
        "th",
        "u",
        "assistant",
        {"content_type": "thoughts", "thoughts": []},
        at=2,
        status="in_progress",
    )
    conversation = read_one(c.build("th"))
    node = conversation.node("th")
    assert (node.text, node.status, conversation.current_leaf_id) == ("", "interrupted", "th")
    assert node.reasoning is not None and node.reasoning.text == ""


def test_a_current_node_on_a_folded_step_moves_to_its_reply() -> None:
    item = rich_conversation()
    item["current_node"] = "th"
    assert read_one(item).current_leaf_id == "a2"


def test_a_conversation_without_any_id_gets_a_stable_one() -> None:
    item = rich_conversation()
    del item["conversation_id"], item["id"]
    first, second = read_one(item), read_one(json.loads(json.dumps(item)))
    assert first.external_id.startswith("sha256:") and first.external_id == second.external_id


def test_images_resolve_against_the_zip_in_both_layouts() -> None:
    sediment = rich_conversation("conv-sediment")
    sediment["mapping"]["u2"]["message"]["content"] = {
        "content_type": "multimodal_text",
        "parts": [image_part("file_0000abc", sediment=True), "Plot y = x squared."],
    }
    for layout in ("legacy", "sharded"):
        data = export_zip(
            [sediment], layout=layout, assets={"file-IMG1": PNG, "file_0000abc": PNG + b"2"}
        )
        with open_export(io.BytesIO(data)) as export:  # files open while the export is open
            (conversation,) = list(export)
            assert isinstance(conversation, ImportedConversation)
            present, missing = conversation.node("u1").attachments
            assert present.in_archive and not missing.in_archive
            with present.open() as stream:
                assert stream.read() == PNG
            (drawn,) = conversation.node("u2").attachments
            assert drawn.in_archive and drawn.is_image
            with drawn.open() as stream:
                assert stream.read() == PNG + b"2"
            with pytest.raises(FileNotFoundError):
                missing.open()


def test_a_file_only_listed_in_metadata_is_an_attachment_too() -> None:
    c = Conversation("conv-pdf")
    c.add(
        "u",
        c.root(),
        "user",
        "Summarise the PDF",
        at=1,
        metadata={
            "attachments": [
                {"id": "file-PDF", "name": "report.pdf", "mime_type": "application/pdf", "size": 9}
            ]
        },
    )
    data = export_zip([c.build("u")], layout="sharded", assets={"file-PDF": b"%PDF-1.7\n"})
    (conversation,), _ = read(data)
    (pdf,) = conversation.node("u").attachments
    assert (pdf.name, pdf.mime_type, pdf.size, pdf.in_archive) == (
        "report.pdf",
        "application/pdf",
        9,
        True,
    )
    assert pdf.location == "file-PDF.dat"


def test_older_custom_instructions_come_only_from_the_hidden_message() -> None:
    data = {"about_user_message": "I am a baker.", "about_model_message": "Be brief."}
    c = Conversation("conv-legacy-ci")
    c.add(
        "hid",
        c.root(),
        "user",
        "The user provided...",
        metadata={"is_user_system_message": True, "user_context_message_data": data},
    )
    c.add("shown", "hid", "user", "Hello", at=1, metadata={"user_context_message_data": data})
    c.add(
        "muted",
        "shown",
        "assistant",
        "(hidden note)",
        at=2,
        metadata={"is_visually_hidden_from_conversation": True},
    )
    conversation = read_one(c.build("muted"))
    assert conversation.custom_instructions is not None
    assert conversation.custom_instructions.as_text() == "I am a baker.\n\nBe brief."
    hid, shown, muted = (conversation.node(i) for i in ("hid", "shown", "muted"))
    assert (hid.hidden, hid.text) == ("user_editable_context", "")
    assert (shown.hidden, shown.text) == (None, "Hello")
    assert (muted.hidden, muted.text) == ("visually_hidden", "(hidden note)")
