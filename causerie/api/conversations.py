"""``/api/conversations``: list, read whole, rename, pin, archive and delete one's
conversations.

The list is every conversation of the caller (pinned ones, those in a project, the API's
exchanges, imported ones), newest first, in pages read with a cursor (``next_cursor``: pass it
back as ``cursor``), never an offset. One conversation is its whole tree: every message of
every branch, parents before children, hidden ones included (``hidden`` says why they are
never shown), and ``current_leaf_id``, the leaf of the branch on screen. Callers: an API key,
or the signed-in page (its CSRF token on every change). Another user's conversation is 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal, Protocol

from anyio import to_thread
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from causerie.api.schemas import error_responses
from causerie.deps import OwnConversationsDep, OwnListingDep, OwnTreeDep
from causerie.types import Reasoning, ToolCall

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

PAGE_LIMIT = 100


class ConversationObject(BaseModel):
    id: str
    object: Literal["conversation"] = "conversation"
    title: str
    created_at: int
    updated_at: int
    model: str
    pinned: bool
    archived: bool
    source: str  # web, api, import
    project_id: str | None


class ConversationPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[ConversationObject]
    next_cursor: str | None  # None: this was the last page


class ReasoningObject(BaseModel):
    text: str
    summary: str | None


class AttachmentObject(BaseModel):
    """A file an imported message carried; ``missing`` says why its bytes are not stored."""

    id: str
    name: str
    mime_type: str | None
    size: int | None
    width: int | None
    height: int | None
    missing: str | None


class FunctionCall(BaseModel):
    name: str
    arguments: str


class ToolCallObject(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class MessageObject(BaseModel):
    id: str
    parent_id: str | None
    role: str
    content: str
    created_at: int
    model: str | None
    status: str
    hidden: str | None
    reasoning: ReasoningObject | None
    attachments: list[AttachmentObject]
    tool_calls: list[ToolCallObject]
    tool_call_id: str | None


class ConversationTree(ConversationObject):
    current_leaf_id: str | None
    messages: list[MessageObject]


class ConversationChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, min_length=1, max_length=200)
    pinned: bool | None = None
    archived: bool | None = None

    @field_validator("title")
    @classmethod
    def _not_blank(cls, title: str | None) -> str | None:
        if title is not None and not title.strip():
            raise ValueError("the title cannot be blank")
        return title.strip() if title is not None else None


# What the routes read of the stores' objects (``api/`` does not import ``storage/``).


class Summary(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def model(self) -> str: ...
    @property
    def pinned(self) -> bool: ...
    @property
    def archived(self) -> bool: ...
    @property
    def source(self) -> str: ...
    @property
    def project_id(self) -> str | None: ...


class Attachment(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def mime_type(self) -> str | None: ...
    @property
    def size(self) -> int | None: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def missing(self) -> str | None: ...


class Message(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def role(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def model(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def hidden(self) -> str | None: ...
    @property
    def reasoning(self) -> Reasoning | None: ...
    @property
    def tool_calls(self) -> tuple[ToolCall, ...]: ...
    @property
    def tool_call_id(self) -> str | None: ...


def conversation_object(summary: Summary) -> ConversationObject:
    return ConversationObject(
        id=summary.id,
        title=summary.title,
        created_at=int(summary.created_at.timestamp()),
        updated_at=int(summary.updated_at.timestamp()),
        model=summary.model,
        pinned=summary.pinned,
        archived=summary.archived,
        source=summary.source,
        project_id=summary.project_id,
    )


def message_object(message: Message, files: Sequence[Attachment]) -> MessageObject:
    reasoning = message.reasoning
    return MessageObject(
        id=message.id,
        parent_id=message.parent_id,
        role=message.role,
        content=message.content,
        created_at=int(message.created_at.timestamp()),
        model=message.model,
        status=message.status,
        hidden=message.hidden,
        reasoning=ReasoningObject(text=reasoning.text, summary=reasoning.summary)
        if reasoning
        else None,
        attachments=[
            AttachmentObject(
                id=f.id,
                name=f.name,
                mime_type=f.mime_type,
                size=f.size,
                width=f.width,
                height=f.height,
                missing=f.missing,
            )
            for f in files
        ],
        tool_calls=[
            ToolCallObject(id=c.id, function=FunctionCall(name=c.name, arguments=c.arguments))
            for c in message.tool_calls
        ],
        tool_call_id=message.tool_call_id,
    )


@router.get(
    "", summary="List your conversations, newest first", responses=error_responses(400, 401)
)
async def list_conversations(
    listing: OwnListingDep,
    archived: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 50,
) -> ConversationPage:
    """``archived``: only the archived ones (true) or only the others (false); both when
    left out. ``cursor``: the previous page's ``next_cursor``."""
    page = await to_thread.run_sync(
        lambda: listing.every(archived=archived, cursor=cursor, limit=limit)
    )
    return ConversationPage(
        data=[conversation_object(item) for item in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/{conversation_id}",
    summary="A conversation's whole message tree and its selected leaf",
    responses=error_responses(401, 404),
)
async def get_conversation(
    conversation_id: str, conversations: OwnConversationsDep, tree: OwnTreeDep
) -> ConversationTree:
    def read() -> ConversationTree:
        summary = conversations.get(conversation_id)
        messages = tree.every_message(conversation_id)
        files = tree.attachments(conversation_id)
        return ConversationTree(
            **conversation_object(summary).model_dump(),
            current_leaf_id=summary.current_leaf_id,
            messages=[message_object(m, files.get(m.id, [])) for m in messages],
        )

    return await to_thread.run_sync(read)


@router.patch(
    "/{conversation_id}",
    summary="Rename, pin or unpin, archive or restore a conversation",
    responses=error_responses(400, 401, 403, 404),
)
async def change_conversation(
    conversation_id: str, body: ConversationChange, listing: OwnListingDep
) -> ConversationObject:
    changed = await to_thread.run_sync(
        lambda: listing.change(
            conversation_id, title=body.title, pinned=body.pinned, archived=body.archived
        )
    )
    return conversation_object(changed)


@router.delete(
    "/{conversation_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a conversation with its messages and files",
    responses=error_responses(401, 403, 404),
)
async def delete_conversation(conversation_id: str, conversations: OwnConversationsDep) -> Response:
    await to_thread.run_sync(conversations.delete, conversation_id)
    return Response(status_code=204)
