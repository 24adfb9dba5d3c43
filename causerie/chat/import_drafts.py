"""An imported conversation tree (``archive.tree``) as the drafts storage writes: the title a
conversation without one gets, attachments read lazily and within a size limit, text fit for
either database. What each kind of node becomes is decided by the readers; this only carries
it over."""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Callable, Mapping

from causerie.archive import CustomInstructions, ImportedAttachment, ImportedConversation
from causerie.archive.tree import ArchivedShare, ImportedNode, Provenance
from causerie.errors import ImportFormatError
from causerie.storage.conversations import title_from
from causerie.storage.imports import (
    IMPORT_SOURCE,
    AttachmentDraft,
    ConversationDraft,
    MissingAttachment,
    NodeDraft,
    OriginDraft,
    ShareDraft,
)

__all__ = ["UNTITLED", "conversation_draft", "title_for"]

UNTITLED = "Imported chat"
# what reading an attachment's bytes from a damaged export may raise
_UNREADABLE = (ImportFormatError, OSError, EOFError, zipfile.BadZipFile, zlib.error, ValueError)


def conversation_draft(
    conversation: ImportedConversation,
    max_attachment_bytes: int,
    projects: Mapping[str, str] | None = None,
) -> ConversationDraft:
    """What storage writes for ``conversation``; attachments past ``max_attachment_bytes``
    are kept as placeholders (``too_large``). A Causerie archive's conversation asks to keep
    its ids, and ``projects`` maps its project to the owner's."""
    archived = conversation.source == "causerie"
    project = conversation.project_id
    return ConversationDraft(
        source=conversation.source,
        external_id=conversation.external_id,
        title=_clean(conversation.title)
        if archived and conversation.title
        else title_for(conversation),
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        nodes=tuple(_node(node, max_attachment_bytes) for node in conversation.nodes),
        leaf_external_id=conversation.current_leaf_id,
        model=conversation.model or "",
        archived=conversation.archived,
        pinned=conversation.pinned,
        custom_instructions=_instructions(conversation.custom_instructions),
        id=conversation.external_id if archived else None,
        via=conversation.via or IMPORT_SOURCE,
        settings=json.dumps(conversation.settings, ensure_ascii=False)
        if conversation.settings is not None
        else None,
        project_id=(projects or {}).get(project) if project is not None else None,
        shares=tuple(_share(share) for share in conversation.shares),
        origin=_origin(conversation.provenance),
    )


def title_for(conversation: ImportedConversation) -> str:
    """The export's title; without one, the first shown user message's first line, cut at a
    word (that of the selected branch first); without any, ``UNTITLED``."""
    if conversation.title and conversation.title.strip():
        return _clean(conversation.title.strip())
    chosen = [node.id for node in conversation.branch()] if conversation.current_leaf_id else []
    rank = {node_id: index for index, node_id in enumerate(chosen)}
    users = sorted(
        (
            node
            for node in conversation.nodes
            if node.role == "user" and node.hidden is None and node.text.strip()
        ),
        key=lambda node: (node.id not in rank, rank.get(node.id, 0), node.created_at),
    )
    return _clean(title_from(users[0].text)) if users else UNTITLED


def _node(node: ImportedNode, max_attachment_bytes: int) -> NodeDraft:
    return NodeDraft(
        external_id=node.id,
        parent_external_id=node.parent_id,
        role=node.role,
        content=_clean(node.text),
        created_at=node.created_at,
        model=node.model,
        status=node.status,
        hidden=node.hidden,
        tool_calls=node.tool_calls,
        tool_call_id=node.tool_call_id,
        reasoning=node.reasoning,
        attachments=tuple(_attachment(a, max_attachment_bytes) for a in node.attachments),
        id=node.id,
        origin_id=node.origin_id,
        finish_reason=node.finish_reason,
        prompt_tokens=node.prompt_tokens,
        completion_tokens=node.completion_tokens,
        rating=node.feedback.rating if node.feedback else None,
        feedback_comment=node.feedback.comment if node.feedback else None,
        redactions=node.redactions,
        sources=node.sources,
    )


def _attachment(attachment: ImportedAttachment, limit: int) -> AttachmentDraft:
    return AttachmentDraft(
        name=attachment.name,
        mime_type=attachment.mime_type,
        size=attachment.size,
        width=attachment.width,
        height=attachment.height,
        read=_bytes_of(attachment, limit) if attachment.in_archive else None,
        id=attachment.asset_id,
        missing=attachment.missing,
    )


def _share(share: ArchivedShare) -> ShareDraft:
    snapshot = json.dumps(list(share.messages), ensure_ascii=False)
    return ShareDraft(share.token, share.title, snapshot, share.created_at, share.revoked_at)


def _origin(provenance: Provenance | None) -> OriginDraft | None:
    if provenance is None:
        return None
    seen = json.dumps(provenance.seen, ensure_ascii=False)
    return OriginDraft(provenance.source, provenance.external_id, seen, provenance.imported_at)


def _bytes_of(attachment: ImportedAttachment, limit: int) -> Callable[[], bytes]:
    """Reads the file from the export, never more than ``limit`` bytes (plus one, to tell)."""

    def read() -> bytes:
        try:
            with attachment.open() as stream:
                data = stream.read(limit + 1)
        except _UNREADABLE as exc:
            raise MissingAttachment("unreadable") from exc
        if len(data) > limit:
            raise MissingAttachment("too_large")
        return data

    return read


def _instructions(found: CustomInstructions | None) -> dict[str, str] | None:
    if found is None or not found.as_text():
        return None
    return {"about_user": _clean(found.about_user), "response_style": _clean(found.response_style)}


def _clean(text: str) -> str:
    """Text either database stores: PostgreSQL refuses NUL characters in text."""
    return text.replace("\x00", "") if "\x00" in text else text
