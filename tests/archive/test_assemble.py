"""Loose nodes become a sound tree whatever the export got wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from causerie.archive.assemble import assemble, select_leaf
from causerie.archive.tree import ImportedNode

T = datetime(2025, 1, 1, tzinfo=UTC)


def node(node_id: str, parent: str | None, minutes: int = 0) -> ImportedNode:
    return ImportedNode(node_id, parent, "user", node_id, T + timedelta(minutes=minutes))


def test_parents_come_first_whatever_the_input_order() -> None:
    drafts = [node("c", "b", 3), node("b", "a", 2), node("a", None, 1), node("b2", "a", 4)]
    nodes, leaf = assemble(drafts, set(), "c")
    assert [n.id for n in nodes] == ["a", "b", "c", "b2"]
    assert leaf == "c"


def test_a_dangling_parent_or_a_self_parent_makes_a_root() -> None:
    nodes, _ = assemble([node("a", "gone"), node("b", "b")], set(), None)
    assert [(n.id, n.parent_id) for n in nodes] == [("a", None), ("b", None)]


def test_a_cycle_is_cut_open_and_every_node_is_kept() -> None:
    drafts = [node("root", None), node("x", "y", 1), node("y", "z", 2), node("z", "x", 3)]
    nodes, _ = assemble(drafts, set(), None)
    assert sorted(n.id for n in nodes) == ["root", "x", "y", "z"]
    assert [n.parent_id for n in nodes if n.id == "x"] == [None]
    seen: set[str] = set()
    for n in nodes:
        assert n.parent_id is None or n.parent_id in seen
        seen.add(n.id)


def test_unknown_times_inherit_the_parents_down_the_chain() -> None:
    drafts = [node("a", None, 5), node("b", "a", 0), node("c", "b", 0), node("d", "c", 9)]
    nodes, _ = assemble(drafts, {"b", "c"}, None)
    times = {n.id: n.created_at for n in nodes}
    assert times["b"] == times["c"] == T + timedelta(minutes=5)
    assert times["d"] == T + timedelta(minutes=9)


def test_a_duplicate_id_keeps_the_first() -> None:
    nodes, _ = assemble(
        [node("a", None), ImportedNode("a", None, "assistant", "again", T)], set(), None
    )
    assert [(n.id, n.text) for n in nodes] == [("a", "a")]


def test_leaf_selection() -> None:
    nodes = [node("a", None, 0), node("b", "a", 1), node("c", "a", 5), node("d", "b", 9)]
    assert select_leaf(nodes, "d") == "d"
    assert select_leaf(nodes, "missing") == "d"  # the newest leaf
    assert select_leaf(nodes, None) == "d"
    assert select_leaf(nodes, "a") == "c"  # an inner node: its newest child, down to a leaf
    assert select_leaf([], None) is None


def test_a_very_deep_chain_needs_no_recursion() -> None:
    drafts = [node("n0", None)] + [node(f"n{i}", f"n{i - 1}") for i in range(1, 20_000)]
    nodes, leaf = assemble(drafts[::-1], set(), None)
    assert nodes[0].id == "n0" and leaf == "n19999"
