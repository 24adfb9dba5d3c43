"""A conversation as a file: JSON with every branch (and the feedback), or the shown branch as
Markdown."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from causerie.storage.attachments import StoredAttachment
from causerie.storage.conversations import ConversationSummary, StoredMessage, tool_calls_json
from causerie.storage.preferences import ChatSettings

__all__ = ["export_filename", "iso", "message_document", "summary_fields", "to_json", "to_markdown"]

FORMAT_VERSION = 1
ROLE_HEADINGS = {"user": "User", "assistant": "Assistant", "system": "System"}


def iso(moment: datetime) -> str:
    """A time in UTC, ISO 8601 (SQLite hands back naive times, all of them UTC)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def to_json(
    summary: ConversationSummary,
    messages: Sequence[StoredMessage],
    settings: ChatSettings | None = None,
    attachments: Mapping[str, Sequence[StoredAttachment]] | None = None,
) -> str:
    """Every message of the tree with its parent, so any branch can be rebuilt, and the files
    imported messages carried (by message id; described, not their bytes)."""
    files = attachments or {}
    document = {
        "format": "causerie.conversation",
        "version": FORMAT_VERSION,
        **summary_fields(summary),
        "settings": asdict(settings or ChatSettings()),
        "messages": [message_document(m, files.get(m.id, ())) for m in messages],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def summary_fields(summary: ConversationSummary) -> dict[str, Any]:
    """What a conversation's JSON export (and Causerie's archive) says of it as a whole."""
    return {
        "id": summary.id,
        "title": summary.title,
        "model": summary.model,
        "source": summary.source,
        "created_at": iso(summary.created_at),
        "updated_at": iso(summary.updated_at),
        "current_leaf_id": summary.current_leaf_id,
    }


def message_document(m: StoredMessage, attachments: Sequence[StoredAttachment]) -> dict[str, Any]:
    """One message of the tree as its JSON export (and Causerie's archive) holds it."""
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "role": m.role,
        "content": m.content,
        "status": m.status,
        "model": m.model,
        "finish_reason": m.finish_reason,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "created_at": iso(m.created_at),
        "feedback": (
            {"rating": m.rating, "comment": m.feedback_comment}
            if m.rating is not None or m.feedback_comment
            else None
        ),
        **tool_fields(m),
        **imported_fields(m, attachments),
    }


def tool_fields(message: StoredMessage) -> dict[str, Any]:
    """A message's function calls, or the call it answers, when it has them (API chats), and
    what the privacy firewall replaced before its request left (kinds and counts), and the
    passages of the user's files it was given (by citation number)."""
    fields: dict[str, Any] = {}
    if message.redactions is not None:
        fields["redactions"] = {
            "provider": message.redactions.provider,
            "counts": message.redactions.counts,
        }
    if message.tool_calls:
        fields["tool_calls"] = json.loads(tool_calls_json(message.tool_calls) or "[]")
    if message.tool_call_id is not None:
        fields["tool_call_id"] = message.tool_call_id
    if message.sources:
        fields["sources"] = [
            {
                "number": s.number,
                "file_id": s.file_id,
                "file_name": s.file_name,
                "page": s.page,
                "position": s.position,
            }
            for s in message.sources
        ]
    return fields


def imported_fields(
    message: StoredMessage, attachments: Sequence[StoredAttachment]
) -> dict[str, Any]:
    """What only imported messages have: why one is hidden, the reasoning kept apart from
    the reply, the files it carried (``missing`` says why the bytes are not there)."""
    fields: dict[str, Any] = {}
    if message.hidden is not None:
        fields["hidden"] = message.hidden
    if message.reasoning is not None:
        fields["reasoning"] = {
            "text": message.reasoning.text,
            "summary": message.reasoning.summary,
        }
    if attachments:
        fields["attachments"] = [
            {
                "id": a.id,
                "name": a.name,
                "mime_type": a.mime_type,
                "size": a.size,
                "width": a.width,
                "height": a.height,
                "missing": a.missing,
            }
            for a in attachments
        ]
    return fields


def to_markdown(summary: ConversationSummary, branch: Sequence[StoredMessage]) -> str:
    """The branch on screen, one heading per message (other branches are in the JSON)."""
    parts = [f"# {summary.title}", ""]
    for message in branch:
        parts += [f"## {ROLE_HEADINGS.get(message.role, message.role.title())}", ""]
        parts += [message.content.rstrip(), ""]
        if message.status == "interrupted":
            parts += ["*(interrupted)*", ""]
    return "\n".join(parts).rstrip() + "\n"


def export_filename(summary: ConversationSummary, extension: str) -> str:
    """A safe ASCII file name from the title."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", summary.title).strip("-").lower()[:60] or "conversation"
    return f"{stem}.{extension}"
