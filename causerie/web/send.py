"""``POST /c/send``: the SSE endpoint the chat page streams replies from.

``POST /c/send`` answers ``text/event-stream`` with, in order:

- ``meta``: ``{"conversation_id", "user_message_id", "title"}`` (ids null for a temporary chat)
- ``html`` (repeated, at most every ``HTML_INTERVAL`` seconds, always the last one):
  ``{"html": <the whole reply so far, rendered and sanitized>}``
- ``done``: ``{"reply_id", "finish_reason", "interrupted", "privacy_note"}`` (plus ``"text"``,
  the raw reply, for a temporary chat, whose history the page keeps; ``privacy_note`` says what
  the privacy firewall replaced, "" if nothing), or ``error``: ``{"error": {...}}`` if the
  model fails mid-reply.

The body says where the turn goes: ``parent_id`` (absent: the current leaf; null: a new first
message), ``content`` (null: answer ``parent_id`` again, i.e. regenerate). A temporary chat
(``temporary: true``) sends its ``history`` and stores nothing. ``file_ids``: files the page
uploaded before the conversation existed, attached to it with its first message;
``project_id``: the project a new conversation starts in (from the project's page).

Errors before the stream starts (unknown conversation, empty message...) are the usual JSON
error envelope with a 4xx status. A client that goes away (the page's Stop button aborts its
fetch) cancels the stream; ``Turn.aclose`` then stops generation and saves the partial reply.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from causerie.auth.principal import Principal
from causerie.chat.service import ChatService, Leaf
from causerie.chat.turn import Turn
from causerie.deps import ChatDep, ConversationsDep, Csrf, ServicesDep
from causerie.errors import CauserieError, InvalidRequestError
from causerie.responses import EventStreamResponse
from causerie.storage import ConversationStore
from causerie.types import Admit, Message
from causerie.web import actions
from causerie.web.i18n import catalogue, language_of
from causerie.web.render import render_markdown
from causerie.web.views import privacy_note

log = logging.getLogger(__name__)

HTML_INTERVAL = 0.05  # seconds between two html events of one reply
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

router = APIRouter(include_in_schema=False)


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str


class SendRequest(BaseModel):
    """The body of ``POST /c/send``."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str | None = None
    content: str | None
    parent_id: str | None = None  # absent: the current leaf
    temporary: bool = False
    history: list[HistoryItem] = Field(default_factory=list, max_length=1000)
    max_tokens: int | None = Field(None, ge=1, le=8192)
    model: str | None = Field(None, max_length=200)  # a model id or alias; default: "default"
    file_ids: list[str] = Field(default_factory=list, max_length=50)  # uploads to attach
    project_id: str | None = Field(None, max_length=36)  # the project a new chat starts in


@router.post("/c/send")
async def send(
    request: Request,
    chat: ChatDep,
    conversations: ConversationsDep,
    principal: Csrf,
    services: ServicesDep,
) -> EventStreamResponse:
    body = await read_send_request(request)
    admit = services.quotas.admitter(principal)
    turn = await open_turn(body, chat, principal, admit)
    return EventStreamResponse(
        reply_events(turn, conversations, catalogue(language_of(request))),
        headers=STREAM_HEADERS,
        # Also after a disconnect that caught the stream between two events: the generator's
        # own ``finally`` would then wait for garbage collection.
        background=BackgroundTask(turn.aclose),
    )


async def open_turn(
    body: SendRequest, chat: ChatService, principal: Principal, admit: Admit
) -> Turn:
    """Start the reply the page asked for, in the principal's conversation or a temporary one."""
    caller = principal.caller(fairness="web")
    if body.temporary:
        if body.content is None:
            raise InvalidRequestError("The message is empty.", param="content")
        history = [Message(item.role, item.content) for item in body.history]
        return await chat.complete(
            body.model or "default",
            [*history, Message("user", body.content)],
            chat.sampling(max_tokens=body.max_tokens),
            admit=admit,
            store=False,
            caller=caller,
            instructions=True,
        )
    parent = body.parent_id if "parent_id" in body.model_fields_set else Leaf.CURRENT
    if body.conversation_id is None and parent is not Leaf.CURRENT:
        parent = Leaf.CURRENT  # a new conversation has nothing to branch from
    return await chat.respond(
        body.conversation_id,
        body.content,
        source="web",
        parent_id=parent,
        sampling={"max_tokens": body.max_tokens},
        model=body.model,
        admit=admit,
        caller=caller,
        file_ids=body.file_ids,
        project_id=body.project_id,
    )


async def read_send_request(request: Request) -> SendRequest:
    body = SendRequest.model_validate_json(await actions.json_body(request))
    if body.content is not None and not body.content.strip():
        raise InvalidRequestError("The message is empty.", param="content")
    return body


async def reply_events(
    turn: Turn, conversations: ConversationStore, strings: dict[str, str]
) -> AsyncIterator[str]:
    """The SSE body of one reply. Whatever happens, the turn is closed (and the reply saved)."""
    try:
        title = None
        if turn.conversation_id is not None:
            summary = await to_thread.run_sync(conversations.get, turn.conversation_id)
            title = summary.title
        yield sse(
            "meta",
            {
                "conversation_id": turn.conversation_id,
                "user_message_id": turn.user_message_id,
                "title": title,
            },
        )
        sent_at = 0.0
        unsent = False
        cited = [source.number for source in turn.sources]
        async for delta in turn.stream():
            unsent = unsent or bool(delta.text)
            now = time.monotonic()
            if unsent and now - sent_at >= HTML_INTERVAL:
                yield sse("html", {"html": render_markdown(turn.text, cited)})
                sent_at, unsent = now, False
        if unsent:
            yield sse("html", {"html": render_markdown(turn.text, cited)})
        await turn.aclose()
        done: dict[str, Any] = {
            "reply_id": turn.reply_id,
            "finish_reason": turn.final.finish_reason if turn.final else None,
            "interrupted": turn.final is None,
            "privacy_note": privacy_note(turn.redactions, strings),
        }
        if turn.conversation_id is None:
            done["text"] = turn.text
        yield sse("done", done)
    except CauserieError as exc:
        log.warning("web reply failed: %s", exc.message)
        yield sse("error", exc.envelope())
    finally:
        await turn.aclose()


def sse(event: str, data: object) -> str:
    return (
        f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"
    )
