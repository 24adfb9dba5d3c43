"""The page's small JSON actions on a conversation: rename, delete, pin, archive, choose a
branch, rate a reply, and let the model title a new conversation.

Every action is a ``POST`` with a JSON body (``Content-Type: application/json`` keeps cross-site
HTML forms out) and answers JSON; errors are the usual error envelope.
"""

from __future__ import annotations

from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from causerie.deps import (
    ChatDep,
    ConversationsDep,
    Csrf,
    ListingDep,
    PreferencesDep,
    ServicesDep,
    SharesDep,
    TreeDep,
    require_csrf,
)
from causerie.errors import InvalidRequestError
from causerie.storage.conversations import title_from
from causerie.storage.preferences import (
    CUSTOM_INSTRUCTIONS,
    MAX_PRIVATE_NAMES,
    PRIVATE_NAMES,
    ChatSettings,
    names_in,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(max_length=200)


class Flag(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: bool


class Select(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: str


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system_prompt: str = Field("", max_length=8000)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=8192)
    documents: Literal["auto", "passages", "whole"] = "auto"


class Instructions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=8000)
    private_names: str | None = Field(None, max_length=20000)  # one per line; None: unchanged


class Revoke(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: str
    rating: int | None
    comment: str | None = Field(None, max_length=2000)


async def json_body(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":  # also keeps cross-site HTML forms out
        raise InvalidRequestError("The request body must be JSON (Content-Type: application/json).")
    return await request.body()


@router.post("/c/{conversation_id}/rename")
async def rename(
    request: Request, conversation_id: str, conversations: ConversationsDep
) -> dict[str, Any]:
    body = Rename.model_validate_json(await json_body(request))
    title = " ".join(body.title.split())
    if not title:
        raise InvalidRequestError("The title is empty.", param="title")
    await to_thread.run_sync(conversations.rename, conversation_id, title)
    return {"id": conversation_id, "title": title}


@router.post("/c/{conversation_id}/delete")
async def delete(
    request: Request, conversation_id: str, conversations: ConversationsDep
) -> dict[str, Any]:
    await json_body(request)
    await to_thread.run_sync(conversations.delete, conversation_id)
    return {"id": conversation_id, "deleted": True}


@router.post("/c/{conversation_id}/pin")
async def pin(request: Request, conversation_id: str, listing: ListingDep) -> dict[str, Any]:
    body = Flag.model_validate_json(await json_body(request))
    await to_thread.run_sync(listing.set_pinned, conversation_id, body.value)
    return {"id": conversation_id, "pinned": body.value}


@router.post("/c/{conversation_id}/archive")
async def archive(request: Request, conversation_id: str, listing: ListingDep) -> dict[str, Any]:
    body = Flag.model_validate_json(await json_body(request))
    await to_thread.run_sync(listing.set_archived, conversation_id, body.value)
    return {"id": conversation_id, "archived": body.value}


@router.post("/c/{conversation_id}/select")
async def select(request: Request, conversation_id: str, tree: TreeDep) -> dict[str, Any]:
    body = Select.model_validate_json(await json_body(request))
    leaf = await to_thread.run_sync(tree.select, conversation_id, body.message_id)
    return {"id": conversation_id, "leaf_id": leaf}


@router.post("/c/{conversation_id}/feedback")
async def feedback(request: Request, conversation_id: str, tree: TreeDep) -> dict[str, Any]:
    body = Feedback.model_validate_json(await json_body(request))
    stored = await to_thread.run_sync(
        tree.set_feedback, conversation_id, body.message_id, body.rating, body.comment
    )
    return {"message_id": stored.id, "rating": stored.rating, "comment": stored.feedback_comment}


@router.post("/c/{conversation_id}/title")
async def auto_title(
    request: Request,
    conversation_id: str,
    conversations: ConversationsDep,
    tree: TreeDep,
    chat: ChatDep,
    principal: Csrf,
    services: ServicesDep,
) -> dict[str, Any]:
    """After the first reply: the model's title, unless the user already named the chat."""
    await json_body(request)

    def first_turn() -> tuple[str, str, str | None]:
        summary = conversations.get(conversation_id)
        thread = tree.thread(conversation_id)
        first = next((t.message.content for t in thread if t.message.role == "user"), None)
        return summary.title, summary.model, first

    current, model, first = await to_thread.run_sync(first_turn)
    if first is None or current != title_from(first):  # renamed by hand: keep it
        return {"id": conversation_id, "title": current, "generated": False}
    admit = services.quotas.admitter(principal)
    title = await chat.title(model, first, principal.caller(fairness="web"), admit, conversation_id)
    if title is None:
        return {"id": conversation_id, "title": current, "generated": False}
    await to_thread.run_sync(conversations.rename, conversation_id, title)
    return {"id": conversation_id, "title": title, "generated": True}


@router.post("/c/{conversation_id}/share")
async def share(request: Request, conversation_id: str, shares: SharesDep) -> dict[str, Any]:
    """A read-only link to a snapshot of the branch on screen."""
    await json_body(request)
    created = await to_thread.run_sync(shares.create, conversation_id)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return {"token": created.token, "url": f"{root}/s/{created.token}"}


@router.post("/c/{conversation_id}/share/revoke")
async def revoke_share(request: Request, conversation_id: str, shares: SharesDep) -> dict[str, Any]:
    body = Revoke.model_validate_json(await json_body(request))
    await to_thread.run_sync(shares.revoke, conversation_id, body.token)
    return {"token": body.token, "revoked": True}


@router.post("/c/{conversation_id}/settings")
async def chat_settings(
    request: Request, conversation_id: str, preferences: PreferencesDep
) -> dict[str, Any]:
    """This conversation's system prompt and sampling (empty fields: the server's defaults)."""
    body = Settings.model_validate_json(await json_body(request))
    settings = ChatSettings(
        body.system_prompt.strip(), body.temperature, body.top_p, body.max_tokens, body.documents
    )
    await to_thread.run_sync(preferences.set_chat_settings, conversation_id, settings)
    return {"id": conversation_id, **body.model_dump(), "system_prompt": settings.system_prompt}


@router.post("/preferences/instructions")
async def custom_instructions(request: Request, preferences: PreferencesDep) -> dict[str, Any]:
    """What every conversation should know about the user and how to answer, and the names to
    hide from external providers."""
    body = Instructions.model_validate_json(await json_body(request))
    text = body.text.strip()
    names = names_in(body.private_names or "")
    if len(names) > MAX_PRIVATE_NAMES:
        raise InvalidRequestError(
            f"At most {MAX_PRIVATE_NAMES} private names, one per line.", param="private_names"
        )
    if short := [name for name in names if len(name) < 2]:
        raise InvalidRequestError(
            f"A private name has at least 2 characters (`{short[0]}` would hide that letter "
            f"everywhere).",
            param="private_names",
        )

    def save() -> tuple[str, ...]:
        preferences.set(CUSTOM_INSTRUCTIONS, text)
        if body.private_names is not None:
            preferences.set(PRIVATE_NAMES, "\n".join(names))
        return preferences.private_names()

    saved = await to_thread.run_sync(save)
    return {"text": text, "private_names": list(saved)}
