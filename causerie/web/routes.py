"""The web chat: pages rendered on the server, and the SSE endpoint the page streams replies from.

``POST /c/send`` answers ``text/event-stream`` with, in order:

- ``meta``: ``{"conversation_id", "user_message_id", "title"}`` (ids null for a temporary chat)
- ``html`` (repeated, at most every ``HTML_INTERVAL`` seconds, always the last one):
  ``{"html": <the whole reply so far, rendered and sanitized>}``
- ``done``: ``{"reply_id", "finish_reason", "interrupted"}`` (plus ``"text"``, the raw reply, for
  a temporary chat, whose history the page keeps), or ``error``: ``{"error": {...}}`` if the
  model fails mid-reply.

The body says where the turn goes: ``parent_id`` (absent: the current leaf; null: a new first
message), ``content`` (null: answer ``parent_id`` again, i.e. regenerate). A temporary chat
(``temporary: true``) sends its ``history`` and stores nothing.

Errors before the stream starts (unknown conversation, empty message...) are the usual JSON
error envelope with a 4xx status. A client that goes away (the page's Stop button aborts its
fetch) cancels the stream; ``Turn.aclose`` then stops generation and saves the partial reply.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal
from urllib.parse import quote

import jinja2
from anyio import to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from causerie import __version__
from causerie.api.errors import causerie_error_response
from causerie.auth.gate import CSRF_COOKIE, cookie_name
from causerie.auth.principal import Principal
from causerie.auth.quotas import Admission
from causerie.chat.export import export_filename, to_json, to_markdown
from causerie.chat.instructions import system_text
from causerie.chat.service import ChatService, Leaf, Turn
from causerie.deps import (
    ChatDep,
    ConversationsDep,
    Csrf,
    ListingDep,
    PagePrincipal,
    PreferencesDep,
    RegistryDep,
    SearchDep,
    ServicesDep,
    TreeDep,
    expected_csrf,
    is_secure,
)
from causerie.errors import (
    CauserieError,
    InvalidRequestError,
    LoginRequiredError,
    NotFoundError,
)
from causerie.providers.registry import ProviderRegistry
from causerie.storage import ConversationStore
from causerie.storage.conversations import ConversationSummary
from causerie.storage.preferences import CUSTOM_INSTRUCTIONS, ChatSettings, Preferences
from causerie.storage.shares import ShareStore
from causerie.types import Message
from causerie.web import actions
from causerie.web.i18n import catalogue, pick_language
from causerie.web.render import render_markdown
from causerie.web.views import (
    ARCHIVE_PAGE,
    SearchResult,
    Sidebar,
    SidebarItem,
    load_sidebar,
    load_thread,
    shared_views,
)

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
HTML_INTERVAL = 0.05  # seconds between two html events of one reply
PAGE_HEADERS = {"Cache-Control": "no-store"}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SEARCH_LIMIT = 20
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

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


def mount_web(app: FastAPI) -> None:
    @app.exception_handler(LoginRequiredError)
    async def _sign_in_first(request: Request, exc: LoginRequiredError) -> Response:
        """A browser asking for a page goes to the sign-in page; anything else gets a 401."""
        wants_page = "text/html" in request.headers.get("accept", "")
        root = str(request.scope.get("root_path", "")).rstrip("/")
        if request.method == "GET" and wants_page:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{root}/login?next={quote(target, safe='')}", 303)
        if wants_page and request.headers.get("content-type", "").startswith(FORM_TYPES):
            return RedirectResponse(f"{root}/login", 303)  # a form posted after signing out
        return causerie_error_response(exc)

    from causerie.web import account, admin  # they render with this module's page()

    app.include_router(router)
    app.include_router(actions.router)
    app.include_router(account.router)
    app.include_router(admin.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


@router.get("/", response_class=HTMLResponse)
async def new_chat(
    request: Request,
    listing: ListingDep,
    registry: RegistryDep,
    preferences: PreferencesDep,
    principal: PagePrincipal,
    services: ServicesDep,
    temporary: bool = False,
) -> HTMLResponse:
    sidebar = await to_thread.run_sync(load_sidebar, listing)
    instructions = await to_thread.run_sync(preferences.get, CUSTOM_INSTRUCTIONS)
    allowed = await to_thread.run_sync(services.quotas.allowed_models, principal)
    return page(
        request,
        "chat.html",
        sidebar=sidebar,
        temporary=temporary,
        models=model_ids(registry, allowed),
        instructions=instructions,
    )


@router.get("/c/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(
    request: Request,
    conversation_id: str,
    conversations: ConversationsDep,
    listing: ListingDep,
    tree: TreeDep,
    registry: RegistryDep,
    preferences: PreferencesDep,
    principal: PagePrincipal,
    services: ServicesDep,
    m: str | None = None,
) -> HTMLResponse:
    def load() -> dict[str, Any]:
        conversation = conversations.get(conversation_id)
        chat_settings = preferences.chat_settings(conversation_id)
        try:
            thread = load_thread(tree, conversation_id, m)
        except NotFoundError:  # a stale link to a deleted message: show the current branch
            thread = load_thread(tree, conversation_id)
        return {
            "conversation": conversation,
            "messages": thread.messages,
            "earlier": thread.earlier,
            "sidebar": load_sidebar(listing),
            "models": model_ids(registry, services.quotas.allowed_models(principal)),
            "chat_settings": chat_settings,
            "instructions": preferences.get(CUSTOM_INSTRUCTIONS),
        }

    try:
        data = await to_thread.run_sync(load)
    except NotFoundError:
        sidebar = await to_thread.run_sync(load_sidebar, listing)
        return page(request, "not_found.html", sidebar=sidebar, status_code=404)
    return page(request, "chat.html", **data)


@router.get("/c/{conversation_id}/thread", response_class=HTMLResponse)
async def thread_fragment(
    request: Request,
    conversation_id: str,
    tree: TreeDep,
    m: str | None = None,
    before: str | None = None,
) -> HTMLResponse:
    """The messages of the shown branch (the last ones, or those ``before`` a message), for the
    page to swap in after a change or to add when the reader scrolls up."""
    thread = await to_thread.run_sync(lambda: load_thread(tree, conversation_id, m, before=before))
    return fragment(request, "_thread.html", messages=thread.messages, earlier=thread.earlier)


@router.get("/c/{conversation_id}/export.{extension}")
async def export(
    conversation_id: str,
    extension: Literal["md", "json"],
    conversations: ConversationsDep,
    tree: TreeDep,
    preferences: PreferencesDep,
) -> Response:
    """The conversation as a download: JSON keeps every branch, Markdown the one on screen."""

    def build() -> tuple[str, str]:
        summary = conversations.get(conversation_id)
        if extension == "json":
            settings = preferences.chat_settings(conversation_id)
            document = to_json(summary, tree.every_message(conversation_id), settings)
            return document, export_filename(summary, "json")
        branch = [t.message for t in tree.thread(conversation_id)]
        return to_markdown(summary, branch), export_filename(summary, "md")

    body, filename = await to_thread.run_sync(build)
    media_type = "application/json" if extension == "json" else "text/markdown; charset=utf-8"
    return Response(
        body,
        media_type=media_type,
        headers={**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/s/{token}", response_class=HTMLResponse)
async def shared_page(request: Request, token: str, services: ServicesDep) -> HTMLResponse:
    """A shared snapshot, read-only, for anyone with the link: no sidebar, no composer,
    nothing else of the owner's."""
    try:
        shared = await to_thread.run_sync(ShareStore(services.database).get, token)
    except NotFoundError:
        return fragment(request, "share_gone.html", status_code=404)
    messages = await to_thread.run_sync(shared_views, shared)
    return fragment(request, "shared.html", share=shared, messages=messages)


@router.get("/sidebar", response_class=HTMLResponse)
async def sidebar_page(request: Request, listing: ListingDep, cursor: str) -> HTMLResponse:
    """The next page of the conversation list ("Load more")."""
    sidebar = await to_thread.run_sync(load_sidebar, listing, cursor)
    return fragment(
        request,
        "_sidebar_items.html",
        items=sidebar.recent,
        next_cursor=sidebar.next_cursor,
        conversation=None,
    )


@router.get("/archive", response_class=HTMLResponse)
async def archive_page(
    request: Request, listing: ListingDep, cursor: str | None = None
) -> HTMLResponse:
    def load() -> tuple[Sidebar, list[SidebarItem], str | None]:
        archived = listing.page(archived=True, cursor=cursor, limit=ARCHIVE_PAGE)
        items = [SidebarItem.of(c) for c in archived.items]
        return load_sidebar(listing), items, archived.next_cursor

    sidebar, items, next_cursor = await to_thread.run_sync(load)
    return page(request, "archive.html", sidebar=sidebar, archived=items, next_cursor=next_cursor)


@router.get("/search", response_class=HTMLResponse)
async def search_results(request: Request, search: SearchDep, q: str = "") -> HTMLResponse:
    hits = await to_thread.run_sync(search.search, q[:200], SEARCH_LIMIT)
    results = [SearchResult.of(hit) for hit in hits]
    return fragment(request, "_search_results.html", results=results, query=q)


@router.post("/c/send")
async def send(
    request: Request,
    chat: ChatDep,
    conversations: ConversationsDep,
    preferences: PreferencesDep,
    principal: Csrf,
    services: ServicesDep,
) -> StreamingResponse:
    body = await read_send_request(request)
    model = body.model or "default"
    await to_thread.run_sync(services.quotas.check_model, principal, chat.model_names(model))
    admission = await services.quotas.admit(principal)
    try:
        turn = await open_turn(body, chat, preferences, principal, admission)
    except BaseException:
        await admission.release()
        raise
    turn.on_close(admission.release)
    return StreamingResponse(
        reply_events(turn, conversations),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
        # Also after a disconnect that caught the stream between two events: the generator's
        # own ``finally`` would then wait for garbage collection.
        background=BackgroundTask(turn.aclose),
    )


async def open_turn(
    body: SendRequest,
    chat: ChatService,
    preferences: Preferences,
    principal: Principal,
    admission: Admission,
) -> Turn:
    """Start the reply the page asked for, in the principal's conversation or a temporary one."""
    caller = principal.caller(fairness="web")

    def load_settings() -> tuple[ChatSettings, str]:
        own = ChatSettings()
        if body.conversation_id is not None and not body.temporary:
            own = preferences.chat_settings(body.conversation_id)
        return own, preferences.get(CUSTOM_INSTRUCTIONS)

    settings, instructions = await to_thread.run_sync(load_settings)
    system = system_text(settings.system_prompt, instructions)
    params = chat.sampling(
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_tokens=admission.cap(body.max_tokens or settings.max_tokens),
    )
    if body.temporary:
        if body.content is None:
            raise InvalidRequestError("The message is empty.", param="content")
        history = [Message(item.role, item.content) for item in body.history]
        if system:
            history.insert(0, Message("system", system))
        return await chat.complete(
            body.model or "default",
            [*history, Message("user", body.content)],
            params,
            store=False,
            caller=caller,
        )
    parent = body.parent_id if "parent_id" in body.model_fields_set else Leaf.CURRENT
    if body.conversation_id is None and parent is not Leaf.CURRENT:
        parent = Leaf.CURRENT  # a new conversation has nothing to branch from
    return await chat.respond(
        body.conversation_id,
        body.content,
        source="web",
        parent_id=parent,
        params=params,
        model=body.model,
        system=system,
        caller=caller,
    )


async def read_send_request(request: Request) -> SendRequest:
    body = SendRequest.model_validate_json(await actions.json_body(request))
    if body.content is not None and not body.content.strip():
        raise InvalidRequestError("The message is empty.", param="content")
    return body


async def reply_events(turn: Turn, conversations: ConversationStore) -> AsyncIterator[str]:
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
        async for delta in turn.stream():
            unsent = unsent or bool(delta.text)
            now = time.monotonic()
            if unsent and now - sent_at >= HTML_INTERVAL:
                yield sse("html", {"html": render_markdown(turn.text)})
                sent_at, unsent = now, False
        if unsent:
            yield sse("html", {"html": render_markdown(turn.text)})
        await turn.aclose()
        done: dict[str, Any] = {
            "reply_id": turn.reply_id,
            "finish_reason": turn.final.finish_reason if turn.final else None,
            "interrupted": turn.final is None,
        }
        if turn.conversation_id is None:
            done["text"] = turn.text
        yield sse("done", done)
    except CauserieError as exc:
        log.warning("web reply failed: %s", exc.message)
        yield sse("error", json.loads(bytes(causerie_error_response(exc).body)))
    finally:
        await turn.aclose()


def model_ids(registry: ProviderRegistry, allowed: tuple[str, ...] | None = None) -> list[str]:
    """What the composer's model picker offers (it shows only when there is a choice): the
    models the user may use."""
    try:
        ids = [info.id for info in registry.models()]
        if allowed is not None:
            ids = [i for i in ids if i in allowed or registry.resolve(i)[1] in allowed]
        return ids
    except CauserieError:
        return []


def sse(event: str, data: object) -> str:
    return (
        f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"
    )


def page(
    request: Request,
    name: str,
    *,
    sidebar: Sidebar,
    conversation: ConversationSummary | None = None,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "sidebar": sidebar,
        "conversation": conversation,
        "messages": (),
        "earlier": None,
        "temporary": False,
        "models": [],
        "chat_settings": ChatSettings(),
        "instructions": "",
        **extra,
    }
    return fragment(request, name, status_code=status_code, **context)


def fragment(
    request: Request, name: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    lang = pick_language(request.headers.get("accept-language", ""), request.cookies.get("lang"))
    strings = catalogue(lang)
    principal = getattr(request.state, "principal", None)
    csrf_token, new_cookie = page_csrf_token(request, principal)
    response = templates().TemplateResponse(
        request,
        name,
        {
            "root": root,
            "version": __version__,
            "lang": lang,
            "t": SimpleNamespace(**strings),  # t.copy must not be dict.copy
            "strings": strings,
            "csrf_token": csrf_token,
            "principal": principal,
            **context,
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
    if new_cookie:
        secure = is_secure(request)
        response.set_cookie(
            cookie_name(CSRF_COOKIE, secure=secure),
            csrf_token,
            httponly=True,
            secure=secure,
            samesite="lax",
            path="/",
        )
    return response


def page_csrf_token(request: Request, principal: Principal | None) -> tuple[str, bool]:
    """The token this page's forms and fetches send back, and whether it needs a new cookie."""
    expected = expected_csrf(request, principal)
    if expected:
        return expected, False
    return secrets.token_urlsafe(32), True


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
