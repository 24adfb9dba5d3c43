"""Loose nodes to a sound tree, the same way for every format: the tree is rebuilt from the
``parent`` links alone (children lists are missing or wrong in some exports), a parent that is
not there makes a root, a cycle is cut, nodes come out parents first, times missing in the
source are inherited, and the selected leaf is found."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime

from causerie.archive.tree import ImportedNode


def assemble(
    drafts: Sequence[ImportedNode], unknown_times: Collection[str], current: str | None
) -> tuple[tuple[ImportedNode, ...], str | None]:
    """The nodes parents first, and the leaf to select. ``drafts`` carry a provisional
    ``created_at`` for the ids in ``unknown_times``; those take their parent's instead.
    The leaf is ``current`` when it is a node (followed down to a leaf, newest child first, if
    it is not one), else the most recently created leaf."""
    nodes: dict[str, ImportedNode] = {}
    for draft in drafts:
        nodes.setdefault(draft.id, draft)
    order = {node_id: index for index, node_id in enumerate(nodes)}
    parent = {
        node_id: node.parent_id if node.parent_id in nodes and node.parent_id != node_id else None
        for node_id, node in nodes.items()
    }
    children = _children(parent, nodes, order)
    placed: list[ImportedNode] = []
    resolved: dict[str, datetime] = {}
    pending = [node_id for node_id in nodes if parent[node_id] is None]
    while len(placed) < len(nodes):
        if not pending:  # only cycles are left: cut the first one open
            first = next(node_id for node_id in nodes if node_id not in resolved)
            parent[first] = None
            pending = [first]
        stack = pending[::-1]
        pending = []
        while stack:
            node_id = stack.pop()
            node = nodes[node_id]
            up = parent[node_id]
            when = resolved[up] if node_id in unknown_times and up is not None else node.created_at
            resolved[node_id] = when
            if up != node.parent_id or when != node.created_at:
                node = dataclasses.replace(node, parent_id=up, created_at=when)
            placed.append(node)
            stack.extend(
                child
                for child in reversed(children.get(node_id, []))
                if child not in resolved and parent[child] == node_id
            )
    return tuple(placed), select_leaf(placed, current)


def _children(
    parent: dict[str, str | None], nodes: dict[str, ImportedNode], order: dict[str, int]
) -> dict[str, list[str]]:
    """Each node's children, oldest first (the source's order among equals)."""
    children: dict[str, list[str]] = {}
    for node_id, up in parent.items():
        if up is not None:
            children.setdefault(up, []).append(node_id)
    for kids in children.values():
        kids.sort(key=lambda kid: (nodes[kid].created_at, order[kid]))
    return children


def select_leaf(nodes: Sequence[ImportedNode], current: str | None) -> str | None:
    """``current`` followed down to a leaf (newest child each step), or when it is not a node
    the newest leaf; None for no nodes."""
    if not nodes:
        return None
    rank = {node.id: (node.created_at, index) for index, node in enumerate(nodes)}
    children: dict[str, list[str]] = {}
    for node in nodes:
        if node.parent_id is not None:
            children.setdefault(node.parent_id, []).append(node.id)
    if current is None or current not in rank:
        leaves = [node.id for node in nodes if node.id not in children]
        return max(leaves, key=rank.__getitem__)
    cursor = current
    while cursor in children:
        cursor = max(children[cursor], key=rank.__getitem__)
    return cursor
