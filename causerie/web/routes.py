"""The web chat's pages: a new chat, a conversation, its thread and exports, shared snapshots,
the sidebar's pages, the archive, the API's conversations and search. ``mount_web`` puts every web router on the app.

Replies stream from ``POST /c/send`` (``send.py``); the JSON actions are in ``actions.py``, the
account pages in ``account.py`` and ``signin.py``, the admin pages in ``admin.py``; rendering
helpers in ``rendering.py``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from causerie.chat.export import export_filename, to_json, to_markdown
from causerie.deps import (
    ConversationsDep,
    ListingDep,
    PagePrincipal,
    PreferencesDep,
    RegistryDep,
    SearchDep,
    ServicesDep,
    TreeDep,
)
from causerie.errors import (
    LoginRequiredError,
    NotFoundError,
)
from causerie.responses import error_response
from causerie.storage.preferences import CUSTOM_INSTRUCTIONS
from causerie.storage.projects import ProjectStore
from causerie.storage.shares import ShareStore
from causerie.types import Project
from causerie.web import actions, send
from causerie.web.rendering import HERE, PAGE_HEADERS, fragment, model_ids, page
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

SEARCH_LIMIT = 20
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

router = APIRouter(include_in_schema=False)


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
        return error_response(exc)

    from causerie.web import (  # they render with this module's page()
        account,
        admin,
        admin_erasure,
        admin_models,
        attachments,
        projects,
    )

    app.include_router(router)
    app.include_router(projects.router)
    app.include_router(send.router)
    app.include_router(actions.router)
    app.include_router(account.router)
    app.include_router(admin_erasure.router)  # before admin's /users/{id}/{setting}
    app.include_router(admin.router)
    app.include_router(admin_models.router)
    app.include_router(attachments.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


@router.get("/", response_class=HTMLResponse)
async def new_chat(
    request: Request,
    listing: ListingDep,
    registry: RegistryDep,
    principal: PagePrincipal,
    services: ServicesDep,
    temporary: bool = False,
) -> HTMLResponse:
    sidebar = await to_thread.run_sync(load_sidebar, listing)
    allowed = await to_thread.run_sync(services.quotas.allowed_models, principal)
    return page(
        request,
        "chat.html",
        sidebar=sidebar,
        temporary=temporary,
        models=model_ids(registry, allowed),
    )


@router.get("/preferences/instructions")
async def instructions(preferences: PreferencesDep, principal: PagePrincipal) -> JSONResponse:
    """The custom instructions and private names, for the dialog that edits them: it is on
    every page and loads them when it opens (pages do not render them)."""

    def load() -> dict[str, Any]:
        return {
            "text": preferences.get(CUSTOM_INSTRUCTIONS),
            "private_names": list(preferences.private_names()),
        }

    return JSONResponse(await to_thread.run_sync(load), headers=PAGE_HEADERS)


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
            "expires_at": services.retention.expires_at(principal.owner, conversation_id),
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
            messages = tree.every_message(conversation_id)
            document = to_json(summary, messages, settings, tree.attachments(conversation_id))
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
async def sidebar_page(
    request: Request, listing: ListingDep, cursor: str | None = None
) -> HTMLResponse:
    """The next page of the conversation list ("Load more"); without a cursor, the sidebar's
    lists again (projects, pinned and recent chats), for the page to swap in after an import."""
    sidebar = await to_thread.run_sync(load_sidebar, listing, cursor)
    if cursor is None:
        return fragment(
            request, "_conversation_nav.html", sidebar=sidebar, conversation=None, project=None
        )
    return fragment(
        request,
        "_sidebar_items.html",
        items=sidebar.recent,
        next_cursor=sidebar.next_cursor,
        conversation=None,
    )


@router.get("/archive", response_class=HTMLResponse)
async def archive_page(
    request: Request, listing: ListingDep, services: ServicesDep, cursor: str | None = None
) -> HTMLResponse:
    """The archived chats, and the archived projects (which can be restored or deleted)."""

    def load() -> tuple[Sidebar, list[SidebarItem], str | None, list[Project]]:
        archived = listing.page(archived=True, cursor=cursor, limit=ARCHIVE_PAGE)
        items = [SidebarItem.of(c) for c in archived.items]
        projects = (
            [] if cursor else ProjectStore(services.database, listing.owner).list(archived=True)
        )
        return load_sidebar(listing), items, archived.next_cursor, projects

    sidebar, items, next_cursor, projects = await to_thread.run_sync(load)
    return page(
        request,
        "archive.html",
        sidebar=sidebar,
        archived=items,
        next_cursor=next_cursor,
        archived_projects=projects,
    )


@router.get("/api-conversations", response_class=HTMLResponse)
async def api_conversations_page(
    request: Request, listing: ListingDep, cursor: str | None = None
) -> HTMLResponse:
    """The conversations API clients' requests made, kept out of the sidebar's chats."""

    def load() -> tuple[Sidebar, list[SidebarItem], str | None]:
        found = listing.page(api=True, cursor=cursor, limit=ARCHIVE_PAGE)
        return load_sidebar(listing), [SidebarItem.of(c) for c in found.items], found.next_cursor

    sidebar, items, next_cursor = await to_thread.run_sync(load)
    return page(
        request, "api_conversations.html", sidebar=sidebar, items=items, next_cursor=next_cursor
    )


@router.get("/search", response_class=HTMLResponse)
async def search_results(request: Request, search: SearchDep, q: str = "") -> HTMLResponse:
    hits = await to_thread.run_sync(search.search, q[:200], SEARCH_LIMIT)
    results = [SearchResult.of(hit) for hit in hits]
    return fragment(request, "_search_results.html", results=results, query=q)
