"""One ChatGPT conversation (an item of ``conversations.json``) to the neutral tree.

The ``mapping`` is read node by node; the tree comes from the ``parent`` links alone (newer
exports leave ``children`` out). Reasoning steps (``thoughts``, ``reasoning_recap``) are
folded into the reply they led to: the reply's parent becomes theirs, their text its
``reasoning``. A step with no reply after it stays a node of its own, with empty text.
Anything a conversation lacks that the tree cannot do without makes it ``Malformed``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from causerie.archive.assemble import assemble
from causerie.archive.chatgpt_assets import AssetIndex, AssetRef
from causerie.archive.chatgpt_content import REASONING_TYPES, Content, call_arguments, read_content
from causerie.archive.reader import Malformed
from causerie.archive.tree import (
    CustomInstructions,
    HiddenReason,
    ImportedAttachment,
    ImportedConversation,
    ImportedNode,
    Reasoning,
    Status,
)
from causerie.archive.values import (
    EPOCH,
    ID_MAX,
    NAME_MAX,
    clip,
    flag,
    model_of,
    role_of,
    safe_id,
    text_of,
    title_of,
    utc_from_epoch,
)
from causerie.types import ToolCall


@dataclass(slots=True)
class _Draft:
    node: ImportedNode
    time_known: bool
    instructions: CustomInstructions | None


def conversation_key(item: Any) -> tuple[str | None, float]:
    """The id and update time the shards of an export are merged by."""
    if not isinstance(item, Mapping):
        return None, 0.0
    updated = item.get("update_time")
    when = float(updated) if isinstance(updated, int | float) else 0.0
    return safe_id(item.get("conversation_id")) or safe_id(item.get("id")), when


def read_conversation(item: Any, assets: AssetIndex) -> ImportedConversation:
    """The conversation ``item`` describes; raises ``Malformed`` when it cannot be read."""
    if not isinstance(item, Mapping):
        raise Malformed("not a JSON object")
    mapping = item.get("mapping")
    if not isinstance(mapping, Mapping):
        raise Malformed("has no mapping (a folder or project entry, or a damaged record)")
    if not mapping:
        raise Malformed("its mapping is empty")
    times = [
        when
        for entry in mapping.values()
        if isinstance(entry, Mapping) and isinstance(entry.get("message"), Mapping)
        if (when := utc_from_epoch(entry["message"].get("create_time"))) is not None
    ]
    created = utc_from_epoch(item.get("create_time")) or min(times, default=None)
    updated = utc_from_epoch(item.get("update_time")) or max(times, default=None)
    created = created or updated or EPOCH
    default_model = model_of(item.get("default_model_slug"))
    drafts = [
        _draft(node_id, entry, mapping, created, default_model, assets)
        for key, entry in mapping.items()
        if (node_id := safe_id(key)) is not None
    ]
    folded, current = _fold_reasoning(
        [draft.node for draft in drafts], safe_id(item.get("current_node"))
    )
    unknown = {draft.node.id for draft in drafts if not draft.time_known}
    nodes, leaf = assemble(_link_tool_outputs(folded), unknown, current)
    return ImportedConversation(
        source="chatgpt",
        external_id=_external_id(item, mapping),
        title=title_of(item.get("title")),
        created_at=created,
        updated_at=updated or created,
        nodes=nodes,
        current_leaf_id=leaf,
        model=default_model or _last_model(nodes, leaf),
        archived=flag(item.get("is_archived")),
        pinned=flag(item.get("is_starred")) or utc_from_epoch(item.get("pinned_time")) is not None,
        custom_instructions=next(
            (draft.instructions for draft in drafts if draft.instructions), None
        ),
    )


def _draft(
    node_id: str,
    entry: Any,
    mapping: Mapping[str, Any],
    created: datetime,
    default_model: str | None,
    assets: AssetIndex,
) -> _Draft:
    entry = entry if isinstance(entry, Mapping) else {}
    up = entry.get("parent")
    parent = safe_id(up) if isinstance(up, str) and up in mapping else None
    message = entry.get("message")
    if not isinstance(message, Mapping):
        node = ImportedNode(node_id, parent, "system", "", created, hidden="empty", content_type="")
        return _Draft(node, False, None)
    author = _mapping(message.get("author"))
    metadata = _mapping(message.get("metadata"))
    content = read_content(message.get("content"), metadata)
    role = role_of(author.get("role"))
    recipient = clip(message.get("recipient"), NAME_MAX)
    calls: tuple[ToolCall, ...] = ()
    if role == "assistant" and recipient not in (None, "all") and not content.reasoning:
        calls = (ToolCall(f"call_{node_id}"[:ID_MAX], recipient, call_arguments(content)),)
    instructions = content.instructions or _legacy_instructions(role, metadata)
    when = utc_from_epoch(message.get("create_time"))
    model = model_of(metadata.get("model_slug"))
    node = ImportedNode(
        id=node_id,
        parent_id=parent,
        role=role or "system",
        text="" if calls or instructions else content.text,
        created_at=when or created,
        model=model or (default_model if role == "assistant" else None),
        status=_status(message.get("status"), metadata),
        hidden=_hidden(role, content, metadata, instructions),
        content_type=content.kind,
        tool_calls=calls,
        tool_name=clip(author.get("name"), NAME_MAX) if role == "tool" else None,
        reasoning=content.reasoning,
        attachments=_attachments(content, metadata, assets),
    )
    return _Draft(node, when is not None, instructions)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _attachments(
    content: Content, metadata: Mapping[str, Any], assets: AssetIndex
) -> tuple[ImportedAttachment, ...]:
    """Files in the content's parts, then those only ``metadata.attachments`` lists (an
    uploaded PDF, say), each once; described by the metadata where it describes them."""
    described: dict[str, Mapping[str, Any]] = {}
    listed = metadata.get("attachments")
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, Mapping) and (asset_id := safe_id(item.get("id"))):
            described.setdefault(asset_id, item)
    refs = list(content.files)
    seen = {ref.asset_id for ref in refs}
    for asset_id, item in described.items():
        if asset_id not in seen:
            kind = "image" if str(item.get("mime_type", "")).startswith("image/") else "file"
            refs.append(AssetRef(asset_id, kind))
            seen.add(asset_id)
    return tuple(assets.attachment(ref, described.get(ref.asset_id)) for ref in refs)


def _status(status: Any, metadata: Mapping[str, Any]) -> Status:
    finish = _mapping(metadata.get("finish_details"))
    if finish.get("type") == "interrupted":
        return "interrupted"
    return "complete" if status in (None, "finished_successfully") else "interrupted"


def _hidden(
    role: str | None,
    content: Content,
    metadata: Mapping[str, Any],
    instructions: CustomInstructions | None,
) -> HiddenReason | None:
    if content.kind == "user_editable_context" or instructions is not None:
        return "user_editable_context"
    if role is None:
        return "unknown_role"
    if role == "system":
        return "system"
    if flag(metadata.get("is_visually_hidden_from_conversation")):
        return "visually_hidden"
    return None


def _legacy_instructions(
    role: str | None, metadata: Mapping[str, Any]
) -> CustomInstructions | None:
    """Custom instructions as older exports kept them: ``user_context_message_data`` on the
    hidden message that carried them (never taken from a message that was shown)."""
    shown = role != "system" and not (
        flag(metadata.get("is_user_system_message"))
        or flag(metadata.get("is_visually_hidden_from_conversation"))
    )
    data = {} if shown else _mapping(metadata.get("user_context_message_data"))
    about_user = text_of(data.get("about_user_message")).strip()
    about_model = text_of(data.get("about_model_message")).strip()
    return CustomInstructions(about_user, about_model) if about_user or about_model else None


def _fold_reasoning(
    nodes: list[ImportedNode], current: str | None
) -> tuple[list[ImportedNode], str | None]:
    """Reasoning steps whose children are all assistant nodes, folded into those children;
    ``current`` moved off a folded step onto its newest descendant."""
    children: dict[str, list[ImportedNode]] = {}
    for node in nodes:
        if node.parent_id is not None:
            children.setdefault(node.parent_id, []).append(node)
    folded = {
        node.id: node
        for node in nodes
        if node.content_type in REASONING_TYPES
        and node.id in children
        and all(child.role == "assistant" for child in children[node.id])
    }
    kept: list[ImportedNode] = []
    for node in nodes:
        if node.id in folded:
            continue
        steps: list[ImportedNode] = []
        parent = node.parent_id
        while parent in folded and parent not in {step.id for step in steps}:
            steps.append(folded[parent])
            parent = folded[parent].parent_id
        if steps:
            steps.reverse()
            node = replace(
                node,
                parent_id=parent,
                reasoning=_merged([*(step.reasoning for step in steps), node.reasoning]),
                absorbed_ids=tuple(step.id for step in steps),
            )
        kept.append(node)
    seen: set[str] = set()
    while current in folded and current not in seen:
        seen.add(current)
        current = max(children[current], key=lambda child: child.created_at).id
    return kept, current


def _merged(parts: list[Reasoning | None]) -> Reasoning | None:
    present = [part for part in parts if part is not None]
    if not present:
        return None
    text = "\n\n".join(part.text for part in present if part.text)
    summaries = [part.summary for part in present if part.summary]
    return Reasoning(text, summaries[-1] if summaries else None)


def _link_tool_outputs(nodes: list[ImportedNode]) -> list[ImportedNode]:
    """Each tool node answers the call of the nearest assistant node above it (through other
    tool nodes), when that node made one."""
    by_id = {node.id: node for node in nodes}
    linked: list[ImportedNode] = []
    for node in nodes:
        if node.role == "tool":
            above = by_id.get(node.parent_id or "")
            hops = 0
            while above is not None and above.role == "tool" and hops < len(nodes):
                above = by_id.get(above.parent_id or "")
                hops += 1
            if above is not None and above.role == "assistant" and above.tool_calls:
                node = replace(node, tool_call_id=above.tool_calls[-1].id)
        linked.append(node)
    return linked


def _external_id(item: Mapping[str, Any], mapping: Mapping[str, Any]) -> str:
    """The conversation's id, or when it has none one derived from what it holds, so that
    importing it again finds it again."""
    found = conversation_key(item)[0]
    if found is not None:
        return found
    seed = json.dumps([item.get("create_time"), sorted(map(str, mapping))[:100]], default=str)
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def _last_model(nodes: tuple[ImportedNode, ...], leaf: str | None) -> str | None:
    by_id = {node.id: node for node in nodes}
    cursor = leaf
    while cursor is not None:
        node = by_id[cursor]
        if node.model:
            return node.model
        cursor = node.parent_id
    return None
