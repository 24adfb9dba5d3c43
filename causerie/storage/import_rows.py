"""The rows an import inserts: an imported tree's messages (under the messages their parents
became) and its attachments, with Core bulk inserts.

Ids are Causerie's own, new ones; a Causerie archive's import asks to keep the archive's
(``keep_ids``) and gets each one that no row holds yet, so that a conversation restored into
another database is the same, id for id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from causerie.storage.conversations import chain_hash, tool_calls_json
from causerie.storage.tables import AttachmentRow, MessageRow
from causerie.types import Reasoning, Redactions, Source, ToolCall

__all__ = [
    "AttachmentDraft",
    "MissingAttachment",
    "NodeDraft",
    "chunks",
    "insert_nodes",
    "key",
]

MODEL_MAX = ID_MAX = 200
NAME_MAX = 255
_CHUNK = 500  # ids per IN (...) list
_FILES_AT_ONCE = 20  # attachments read and inserted together: bytes of a few files in memory

T = TypeVar("T")


class MissingAttachment(Exception):
    """Raised by an attachment's ``read``: its bytes cannot be had; ``reason`` says why
    (``too_large``, ``unreadable``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AttachmentDraft:
    """A file an imported message carried; ``read`` gives its bytes (None: not in the export,
    ``missing`` saying why when the export knew). It is called only when the message is new,
    so a re-import reads no file again. ``id``: the id to keep, when free."""

    name: str
    mime_type: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    read: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)
    id: str | None = None
    missing: str | None = None


@dataclass(frozen=True, slots=True)
class NodeDraft:
    """One node of an imported tree; ``external_id`` unique within its conversation. ``id``:
    the message id to keep, when free; ``origin_id``: the id stored as the node's external id
    when ids are kept (the one it had in the export it first came from)."""

    external_id: str
    parent_external_id: str | None
    role: str
    content: str
    created_at: datetime
    model: str | None = None
    status: str = "complete"
    hidden: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    reasoning: Reasoning | None = None
    attachments: tuple[AttachmentDraft, ...] = ()
    id: str | None = None
    origin_id: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    rating: int | None = None
    feedback_comment: str | None = None
    redactions: Redactions | None = None
    sources: tuple[Source, ...] = ()


def insert_nodes(
    session: Session,
    conversation_id: str,
    nodes: Sequence[NodeDraft],
    ids: dict[str, tuple[str, str]],
    *,
    keep_ids: bool = False,
) -> tuple[tuple[int, int, int, int], list[str]]:
    """Insert ``nodes`` (parents first) under the messages ``ids`` maps already (source node
    id to message id and chain hash); ``ids`` gains theirs. Returns the counts (shown, hidden,
    attachments stored, attachments missing) and the new messages' ids."""
    taken = _taken(session, MessageRow.id, (n.id for n in nodes if n.id)) if keep_ids else set()
    rows: list[dict[str, Any]] = []
    files: list[tuple[str, int, AttachmentDraft]] = []
    shown = hidden = 0
    for node in nodes:
        parent_id, parent_hash = ids.get(key(node.parent_external_id or ""), (None, ""))
        kept = keep_ids and node.id is not None and node.id not in taken
        message_id = node.id if kept and node.id else str(uuid.uuid4())
        digest = chain_hash(
            parent_hash, node.role, node.content, node.tool_calls, node.tool_call_id
        )
        ids[key(node.external_id)] = (message_id, digest)
        rows.append(
            {
                "id": message_id,
                "conversation_id": conversation_id,
                "parent_id": parent_id,
                "role": node.role,
                "content": node.content,
                "chain_hash": digest,
                "status": node.status,
                "model": node.model[:MODEL_MAX] if node.model else None,
                "finish_reason": node.finish_reason,
                "prompt_tokens": node.prompt_tokens,
                "completion_tokens": node.completion_tokens,
                "created_at": node.created_at,
                "rating": node.rating,
                "feedback_comment": node.feedback_comment,
                "tool_calls": tool_calls_json(node.tool_calls),
                "tool_call_id": node.tool_call_id,
                "redactions": node.redactions.as_json() if node.redactions else None,
                "sources": Source.list_as_json(node.sources),
                "external_id": node.origin_id if keep_ids else key(node.external_id),
                "hidden": node.hidden,
                "reasoning": node.reasoning.as_json() if node.reasoning else None,
            }
        )
        hidden += node.hidden is not None
        shown += node.hidden is None
        files += ((message_id, position, file) for position, file in enumerate(node.attachments))
    if rows:
        session.execute(insert(MessageRow), rows)
    stored = 0
    for chunk in chunks(files, _FILES_AT_ONCE):
        taken_files = _taken(session, AttachmentRow.id, (f.id for *_, f in chunk if f.id))
        attachments = [
            _attachment(*file, keep_id=keep_ids and file[2].id not in taken_files) for file in chunk
        ]
        stored += sum(1 for row in attachments if row["data"] is not None)
        session.execute(insert(AttachmentRow), attachments)
    return (shown, hidden, stored, len(files) - stored), [row["id"] for row in rows]


def _attachment(
    message_id: str, position: int, draft: AttachmentDraft, *, keep_id: bool
) -> dict[str, Any]:
    data: bytes | None = None
    missing: str | None = draft.missing or "not_in_export"
    if draft.read is not None:
        try:
            data, missing = draft.read(), None
        except MissingAttachment as exc:
            missing = exc.reason
    return {
        "id": draft.id if keep_id and draft.id else str(uuid.uuid4()),
        "message_id": message_id,
        "position": position,
        "name": draft.name[:NAME_MAX],
        "mime_type": draft.mime_type[:NAME_MAX] if draft.mime_type else None,
        "size": len(data) if data is not None else draft.size,
        "width": draft.width,
        "height": draft.height,
        "data": data,
        "missing": missing,
    }


def _taken(session: Session, column: InstrumentedAttribute[str], ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` a row of ``column``'s table holds already."""
    found: set[str] = set()
    for chunk in chunks(list(ids)):
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


def key(external_id: str) -> str:
    """An external id as stored (the readers already hash longer ones)."""
    return external_id[:ID_MAX]


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
