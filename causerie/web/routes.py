"""The web chat: pages rendered on the server, and the SSE endpoint the page streams replies from.

``POST /c/send`` answers ``text/event-stream`` with, in order:

- ``meta``: ``{"conversation_id", "user_message_id", "title"}``
- ``html`` (repeated, at most every ``HTML_INTERVAL`` seconds, always the last one):
  ``{"html": <the whole reply so far, rendered and sanitized>}``
- ``done``: ``{"reply_id", "finish_reason", "interrupted"}``, or ``error``: ``{"error": {...}}``
  if the model fails mid-reply.

Errors before the stream starts (unknown conversation, empty message...) are the usual JSON
error envelope with a 4xx status. A client that goes away (the page's Stop button aborts its
fetch) cancels the stream; ``Turn.aclose`` then stops generation and saves the partial reply.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from anyio import to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict
from starlette.background import BackgroundTask

from causerie import __version__
from causerie.api.errors import causerie_error_response
from causerie.chat.service import Turn
from causerie.deps import ChatDep, ConversationsDep
from causerie.errors import CauserieError, InvalidRequestError, NotFoundError
from causerie.storage import ConversationStore
from causerie.storage.conversations import ConversationSummary, StoredMessage
from causerie.web.render import render_markdown

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SIDEBAR_LIMIT = 100
HTML_INTERVAL = 0.05  # seconds between two html events of one reply
PAGE_HEADERS = {"Cache-Control": "no-store"}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

router = APIRouter(include_in_schema=False)


class SendRequest(BaseModel):
    """The body of ``POST /c/send``."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str | None = None
    content: str


@dataclass(frozen=True, slots=True)
class MessageView:
    """A stored message as the page shows it: assistant markdown rendered, user text escaped."""

    id: str
    role: str
    html: Markup
    interrupted: bool

    @classmethod
    def of(cls, message: StoredMessage) -> MessageView:
        if message.role == "assistant":
            html = Markup(render_markdown(message.content))
        else:
            html = Markup.escape(message.content)  # shown with white-space: pre-wrap
        return cls(message.id, message.role, html, message.status == "interrupted")


@dataclass(frozen=True, slots=True)
class PageData:
    sidebar: list[ConversationSummary]
    conversation: ConversationSummary | None = None
    messages: tuple[MessageView, ...] = ()


def mount_web(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


@router.get("/", response_class=HTMLResponse)
async def new_chat(request: Request, conversations: ConversationsDep) -> HTMLResponse:
    sidebar = await to_thread.run_sync(conversations.list_recent, SIDEBAR_LIMIT)
    return page(request, "chat.html", PageData(sidebar))


@router.get("/c/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(
    request: Request, conversation_id: str, conversations: ConversationsDep
) -> HTMLResponse:
    try:
        data = await to_thread.run_sync(load_conversation, conversations, conversation_id)
    except NotFoundError:
        sidebar = await to_thread.run_sync(conversations.list_recent, SIDEBAR_LIMIT)
        return page(request, "not_found.html", PageData(sidebar), status_code=404)
    return page(request, "chat.html", data)


@router.post("/c/send")
async def send(
    request: Request, chat: ChatDep, conversations: ConversationsDep
) -> StreamingResponse:
    body = await read_send_request(request)
    turn = await chat.respond(body.conversation_id, body.content, source="web")
    return StreamingResponse(
        reply_events(turn, conversations),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
        # Also after a disconnect that caught the stream between two events: the generator's
        # own ``finally`` would then wait for garbage collection.
        background=BackgroundTask(turn.aclose),
    )


def load_conversation(store: ConversationStore, conversation_id: str) -> PageData:
    """Everything a conversation page shows (runs in a worker thread: SQL and rendering)."""
    conversation = store.get(conversation_id)
    messages = tuple(
        MessageView.of(m) for m in store.branch(conversation_id) if m.role in ("user", "assistant")
    )
    return PageData(store.list_recent(SIDEBAR_LIMIT), conversation, messages)


async def read_send_request(request: Request) -> SendRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":  # also keeps cross-site HTML forms out
        raise InvalidRequestError("The request body must be JSON (Content-Type: application/json).")
    body = SendRequest.model_validate_json(await request.body())
    if not body.content.strip():
        raise InvalidRequestError("The message is empty.", param="content")
    return body


async def reply_events(turn: Turn, conversations: ConversationStore) -> AsyncIterator[str]:
    """The SSE body of one reply. Whatever happens, the turn is closed (and the reply saved)."""
    try:
        conversation_id = turn.conversation_id or ""  # respond() always stores the turn
        summary = await to_thread.run_sync(conversations.get, conversation_id)
        yield sse(
            "meta",
            {
                "conversation_id": conversation_id,
                "user_message_id": turn.user_message_id,
                "title": summary.title,
            },
        )
        sent_at = 0.0
        unsent = False
        async for delta in turn.stream():
            unsent = unsent or bool(delta.text)
            now = time.monotonic()
            if unsent and now - sent_at >= HTML_INTERVAL:
                yield sse("html", {"html": render_markdown(turn.text)})
                sent_at, unsent = now, False
        if unsent:
            yield sse("html", {"html": render_markdown(turn.text)})
        await turn.aclose()
        yield sse(
            "done",
            {
                "reply_id": turn.reply_id,
                "finish_reason": turn.final.finish_reason if turn.final else None,
                "interrupted": turn.final is None,
            },
        )
    except CauserieError as exc:
        log.warning("web reply failed: %s", exc.message)
        yield sse("error", json.loads(bytes(causerie_error_response(exc).body)))
    finally:
        await turn.aclose()


def sse(event: str, data: object) -> str:
    return (
        f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"
    )


def page(request: Request, name: str, data: PageData, *, status_code: int = 200) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    context: dict[str, Any] = {
        "root": root,
        "version": __version__,
        "sidebar": data.sidebar,
        "conversation": data.conversation,
        "messages": data.messages,
    }
    return templates().TemplateResponse(
        request, name, context, status_code=status_code, headers=PAGE_HEADERS
    )


@cache
def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)
