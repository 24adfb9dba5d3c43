"""FastAPI dependencies as ``Annotated`` aliases, resolved from the app's one ``Services``.

Two principals: ``ApiPrincipal`` (API keys, ``/v1``) and ``PagePrincipal`` (the session cookie,
the web page). The stores a page uses are scoped to its principal's own conversations.
``Csrf`` guards every state-changing request from the page.

Every dependency is ``async``: FastAPI runs a plain ``def`` on a worker thread, and each such hop
costs a request a fraction of a millisecond. The principals ask first whether accounts exist
(``Database.read``: on SQLite, on the event loop); only a key or a session, whose check may write
its last use, goes to a worker thread.
"""

from __future__ import annotations

import hmac
from typing import Annotated, cast

from anyio import to_thread
from fastapi import Depends, Request

from causerie.auth.gate import CSRF_COOKIE, SESSION_COOKIE, cookie_name
from causerie.auth.principal import LOCAL, Principal
from causerie.chat.responses import ResponseHistory
from causerie.chat.service import ChatService
from causerie.errors import LoginRequiredError, PermissionDeniedError
from causerie.middleware import UNSAFE_METHODS
from causerie.providers.registry import ProviderRegistry
from causerie.services import Services
from causerie.storage import ConversationStore
from causerie.storage.documents import DocumentStore
from causerie.storage.import_jobs import ImportJobStore
from causerie.storage.listing import ConversationListing
from causerie.storage.preferences import Preferences
from causerie.storage.projects import ProjectStore
from causerie.storage.search import SearchIndex
from causerie.storage.shares import ShareStore
from causerie.storage.tree import MessageTree

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def services_of(request: Request) -> Services:
    return cast(Services, request.app.state.services)


async def get_services(request: Request) -> Services:
    return services_of(request)


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def session_token(request: Request) -> str | None:
    return request.cookies.get(cookie_name(SESSION_COOKIE, secure=is_secure(request)))


def csrf_cookie(request: Request) -> str | None:
    return request.cookies.get(cookie_name(CSRF_COOKIE, secure=is_secure(request)))


async def _signing_in(request: Request) -> bool:
    """Whether accounts exist, so that this request must sign in (without them, it is LOCAL)."""
    services = services_of(request)
    return await services.database.read(services.gate.multi_user)


async def get_api_principal(request: Request) -> Principal:
    """From an API key (checking a key may write its last use: in a worker thread)."""
    if not await _signing_in(request):
        return LOCAL
    return await to_thread.run_sync(services_of(request).gate.api_principal, request.headers)


async def get_page_principal(request: Request) -> Principal:
    if await _signing_in(request):
        gate = services_of(request).gate
        found = await to_thread.run_sync(gate.page_principal, session_token(request))
        if found is None:
            raise LoginRequiredError("Sign in to continue.")
        principal = found
    else:
        principal = LOCAL
    request.state.principal = principal  # for the page's header and its CSRF token
    return principal


async def get_reader(request: Request) -> Principal:
    """A signed-in user or an API key's owner (anyone, on a server without accounts)."""
    if not await _signing_in(request):
        return LOCAL
    gate = services_of(request).gate

    def principal() -> Principal:
        found = gate.page_principal(session_token(request))
        return found if found is not None else gate.api_principal(request.headers)

    return await to_thread.run_sync(principal)


ApiPrincipal = Annotated[Principal, Depends(get_api_principal)]
ReaderPrincipal = Annotated[Principal, Depends(get_reader)]
PagePrincipal = Annotated[Principal, Depends(get_page_principal)]


async def get_admin(principal: PagePrincipal) -> Principal:
    if not principal.is_admin:
        raise PermissionDeniedError("Only an administrator can open this page.")
    return principal


AdminPrincipal = Annotated[Principal, Depends(get_admin)]


def expected_csrf(request: Request, principal: Principal | None) -> str | None:
    """A signed-in page echoes its session's token; other pages the CSRF cookie's value."""
    if principal is not None and principal.csrf_token:
        return principal.csrf_token
    return csrf_cookie(request)


async def check_csrf(request: Request, principal: Principal | None) -> None:
    """The token from the ``X-CSRF-Token`` header, or a form's ``csrf_token`` field."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    _compare_csrf(given, expected_csrf(request, principal))


def _compare_csrf(given: str | None, expected: str | None) -> None:
    if not given or not expected or not hmac.compare_digest(given, expected):
        raise PermissionDeniedError(
            "This form has expired (its security token is missing or wrong). Reload the page "
            "and try again.",
            code="csrf_failed",
        )


async def require_csrf(request: Request, principal: PagePrincipal) -> Principal:
    await check_csrf(request, principal)
    return principal


Csrf = Annotated[Principal, Depends(require_csrf)]


async def require_rest_principal(request: Request, principal: ReaderPrincipal) -> Principal:
    """The REST routes (``/api/...``): an API key's owner, or the signed-in page, whose
    requests that change something carry its CSRF token. The single local user of a server
    without accounts needs none: the host guard refuses other sites' pages."""
    if request.method in UNSAFE_METHODS and principal.csrf_token:
        await check_csrf(request, principal)
    return principal


RestPrincipal = Annotated[Principal, Depends(require_rest_principal)]


async def require_uploader(request: Request, principal: ReaderPrincipal) -> Principal:
    """``RestPrincipal`` for a route that streams its body itself (``api/upload_stream.py``):
    the page's CSRF token must come in the ``X-CSRF-Token`` header, since reading a form field
    would mean reading the body before the caller is checked."""
    if principal.csrf_token:
        _compare_csrf(request.headers.get(CSRF_HEADER), principal.csrf_token)
    return principal


Uploader = Annotated[Principal, Depends(require_uploader)]


async def get_documents(request: Request, principal: RestPrincipal) -> DocumentStore:
    return DocumentStore(services_of(request).database, principal.owner)


DocumentsDep = Annotated[DocumentStore, Depends(get_documents)]


async def get_projects(request: Request, principal: RestPrincipal) -> ProjectStore:
    return ProjectStore(services_of(request).database, principal.owner)


ProjectsDep = Annotated[ProjectStore, Depends(get_projects)]


async def get_own_listing(request: Request, principal: RestPrincipal) -> ConversationListing:
    return ConversationListing(services_of(request).database, principal.owner)


async def get_own_tree(request: Request, principal: RestPrincipal) -> MessageTree:
    return MessageTree(services_of(request).database, principal.owner)


async def get_own_conversations(request: Request, principal: RestPrincipal) -> ConversationStore:
    return ConversationStore(services_of(request).database, principal.owner)


# The REST routes' stores (``/api/conversations``): a key's owner or the signed-in page's.
OwnListingDep = Annotated[ConversationListing, Depends(get_own_listing)]
OwnTreeDep = Annotated[MessageTree, Depends(get_own_tree)]
OwnConversationsDep = Annotated[ConversationStore, Depends(get_own_conversations)]


async def get_import_jobs(request: Request, principal: RestPrincipal) -> ImportJobStore:
    return ImportJobStore(services_of(request).database, principal.owner)


ImportJobsDep = Annotated[ImportJobStore, Depends(get_import_jobs)]


async def get_responses(request: Request, principal: ApiPrincipal) -> ResponseHistory:
    return ResponseHistory(services_of(request).database, principal.owner)


ResponsesDep = Annotated[ResponseHistory, Depends(get_responses)]


async def get_chat(request: Request) -> ChatService:
    return services_of(request).chat


async def get_registry(request: Request) -> ProviderRegistry:
    return services_of(request).registry


async def get_conversations(request: Request, principal: PagePrincipal) -> ConversationStore:
    return ConversationStore(services_of(request).database, principal.owner)


async def get_listing(request: Request, principal: PagePrincipal) -> ConversationListing:
    return ConversationListing(services_of(request).database, principal.owner)


async def get_tree(request: Request, principal: PagePrincipal) -> MessageTree:
    return MessageTree(services_of(request).database, principal.owner)


async def get_search(request: Request, principal: PagePrincipal) -> SearchIndex:
    return SearchIndex(services_of(request).database, principal.owner)


async def get_preferences(request: Request, principal: PagePrincipal) -> Preferences:
    return Preferences(services_of(request).database, principal.owner)


async def get_shares(request: Request, principal: PagePrincipal) -> ShareStore:
    return ShareStore(services_of(request).database, principal.owner)


ServicesDep = Annotated[Services, Depends(get_services)]
ChatDep = Annotated[ChatService, Depends(get_chat)]
RegistryDep = Annotated[ProviderRegistry, Depends(get_registry)]
ConversationsDep = Annotated[ConversationStore, Depends(get_conversations)]
ListingDep = Annotated[ConversationListing, Depends(get_listing)]
TreeDep = Annotated[MessageTree, Depends(get_tree)]
SearchDep = Annotated[SearchIndex, Depends(get_search)]
SharesDep = Annotated[ShareStore, Depends(get_shares)]
PreferencesDep = Annotated[Preferences, Depends(get_preferences)]
