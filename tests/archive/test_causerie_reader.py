"""Causerie's archive read back: the tree is rebuilt from the parent links by the rule every
format shares (``assemble``), whatever order the messages come in."""

from __future__ import annotations

import io

from causerie.archive import ImportedConversation, open_export
from tests.archive.causerie_factory import archive_zip, conversation, message


def read_one(data: bytes) -> ImportedConversation:
    with open_export(io.BytesIO(data)) as export:
        (found,) = list(export)
    assert isinstance(found, ImportedConversation)
    return found


def test_messages_listed_before_their_parent_keep_it() -> None:
    messages = [
        message("m3", "m2", "user", 20),
        message("m2", "m1", "assistant", 10),
        message("m1", None, "user", 0),
    ]
    found = read_one(archive_zip([conversation("c1", messages, leaf="m3")]))
    assert [(n.id, n.parent_id) for n in found.nodes] == [
        ("m1", None),
        ("m2", "m1"),
        ("m3", "m2"),
    ]
    assert found.current_leaf_id == "m3"


def test_a_missing_parent_makes_a_root_and_a_cycle_is_cut() -> None:
    messages = [
        message("m1", None, "user", 0),
        message("orphan", "gone", "user", 5),
        message("x", "y", "user", 6),
        message("y", "x", "assistant", 7),
    ]
    found = read_one(archive_zip([conversation("c1", messages, leaf="m1")]))
    parents = {n.id: n.parent_id for n in found.nodes}
    assert parents["orphan"] is None and sorted(parents) == ["m1", "orphan", "x", "y"]
    assert None in (parents["x"], parents["y"])
    seen: set[str] = set()
    for node in found.nodes:
        assert node.parent_id is None or node.parent_id in seen
        seen.add(node.id)


def test_a_dangling_or_null_leaf_selects_the_newest_leaf() -> None:
    messages = [
        message("m1", None, "user", 0),
        message("a", "m1", "assistant", 5),
        message("b", "m1", "assistant", 9),
        message("c", "a", "user", 7),
    ]
    for leaf in ("deleted-message", None):
        assert (
            read_one(archive_zip([conversation("c1", messages, leaf=leaf)])).current_leaf_id == "b"
        )
    # an inner message the archive selected stays selected, exactly
    assert read_one(archive_zip([conversation("c1", messages, leaf="a")])).current_leaf_id == "a"
