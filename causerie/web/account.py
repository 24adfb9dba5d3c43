"""One's own account: ``/account`` (who, password, sign out everywhere, the last 30 days'
usage) and ``/account/keys`` (create, list, revoke API keys). Signing in, out and up is in
``signin.py``, whose router this one includes.

Plain HTML forms (``application/x-www-form-urlencoded``) with a hidden ``csrf_token`` (the
session's); a refused form comes back as the page, with a readable message and its status.
Every route is the signed-in user's (``PagePrincipal``); the single local user of a server
without accounts is told how to create the first admin instead.
"""

from __future__ import annotations

from datetime import timedelta

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from causerie.auth.principal import Principal
from causerie.deps import ListingDep, PagePrincipal, ServicesDep
from causerie.errors import InvalidRequestError, NotFoundError
from causerie.services import Services
from causerie.storage.credentials import ApiKeyInfo
from causerie.storage.listing import ConversationListing
from causerie.storage.usage import UsageLedger, today
from causerie.web import signin
from causerie.web.account_forms import (
    UsageTable,
    clear_session_cookie,
    client_ip,
    csrf_refusal,
    explain,
    field,
    redirect,
    root_of,
    set_session_cookie,
    strings_for,
)
from causerie.web.rendering import page
from causerie.web.views import load_sidebar

router = APIRouter(include_in_schema=False)
router.include_router(signin.router)

USAGE_DAYS = 30


# -- one's own account --------------------------------------------------------------------------


async def account_page(
    request: Request,
    services: Services,
    principal: Principal,
    listing: ConversationListing,
    *,
    error: str = "",
    done: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    if principal.account is None:
        return await not_enabled(request, listing, status_code=status_code)
    since = today() - timedelta(days=USAGE_DAYS - 1)
    ledger = UsageLedger(services.database)
    sidebar, lines = await to_thread.run_sync(
        lambda: (load_sidebar(listing), ledger.lines(since=since, user_id=principal.owner))
    )
    return page(
        request,
        "account/account.html",
        sidebar=sidebar,
        status_code=status_code,
        account=principal.account,
        usage=UsageTable.of(lines, since),
        error=error,
        done=done,
    )


async def not_enabled(
    request: Request, listing: ConversationListing, *, status_code: int = 200
) -> HTMLResponse:
    """Without accounts: what this page would be for, and how to create the first admin."""
    sidebar = await to_thread.run_sync(load_sidebar, listing)
    return page(request, "account/not_enabled.html", sidebar=sidebar, status_code=status_code)


@router.get("/account", response_class=HTMLResponse)
async def account_settings(
    request: Request,
    principal: PagePrincipal,
    listing: ListingDep,
    services: ServicesDep,
    done: str = "",
) -> HTMLResponse:
    done = "password" if done == "password" else ""
    return await account_page(request, services, principal, listing, done=done)


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(
    request: Request, principal: PagePrincipal, listing: ListingDep, services: ServicesDep
) -> Response:
    """Every session of the account ends; this browser gets a new one."""
    account = principal.account
    if account is None:
        return await not_enabled(request, listing, status_code=404)

    async def refused(error: str, status_code: int) -> HTMLResponse:
        return await account_page(
            request, services, principal, listing, error=error, status_code=status_code
        )

    form = await request.form()
    strings = strings_for(request)
    error = await csrf_refusal(request, principal)
    if error is not None:
        return await refused(error, 403)
    old, new = field(form, "current_password"), field(form, "new_password")
    if new != field(form, "repeat_password"):
        return await refused(strings["passwords_differ"], 400)
    try:
        token = await to_thread.run_sync(services.accounts.change_password, account, old, new)
    except InvalidRequestError as exc:
        return await refused(explain(exc, strings), 400)
    response = redirect(f"{root_of(request)}/account?done=password")
    set_session_cookie(response, request, token)
    return response


@router.post("/account/logout-all", response_class=HTMLResponse)
async def sign_out_everywhere(
    request: Request, principal: PagePrincipal, listing: ListingDep, services: ServicesDep
) -> Response:
    """End every session of the account, this browser's too."""
    account = principal.account
    if account is None:
        return await not_enabled(request, listing, status_code=404)
    error = await csrf_refusal(request, principal)
    if error is not None:
        return await account_page(
            request, services, principal, listing, error=error, status_code=403
        )
    ip = client_ip(request)
    await to_thread.run_sync(lambda: services.accounts.sign_out_everywhere(account, ip=ip))
    response = redirect(f"{root_of(request)}/login")
    clear_session_cookie(response, request)
    return response


@router.post("/account/delete", response_class=HTMLResponse)
async def delete_account(
    request: Request, principal: PagePrincipal, listing: ListingDep, services: ServicesDep
) -> Response:
    """*Delete my account*: with the password again, everything of the account is erased
    (``storage/erasure.py``) and this browser is signed out."""
    account = principal.account
    if account is None:
        return await not_enabled(request, listing, status_code=404)

    status, error = 403, await csrf_refusal(request, principal)
    if error is None:
        form = await request.form()
        password, ip = field(form, "password"), client_ip(request)
        try:
            await to_thread.run_sync(
                lambda: services.accounts.delete_own_account(account, password, ip=ip)
            )
        except InvalidRequestError as exc:
            status, error = 400, explain(exc, strings_for(request))
    if error is not None:
        return await account_page(
            request, services, principal, listing, error=error, status_code=status
        )
    response = redirect(f"{root_of(request)}/login")
    clear_session_cookie(response, request)
    return response


# -- API keys -----------------------------------------------------------------------------------


async def keys_page(
    request: Request,
    services: Services,
    principal: Principal,
    listing: ConversationListing,
    *,
    new_key: tuple[ApiKeyInfo, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    if principal.account is None:
        return await not_enabled(request, listing, status_code=status_code)
    credentials = services.accounts.credentials
    sidebar, keys = await to_thread.run_sync(
        lambda: (load_sidebar(listing), credentials.keys(principal.owner))
    )
    return page(
        request,
        "account/keys.html",
        sidebar=sidebar,
        status_code=status_code,
        keys=keys,
        new_key=new_key,
        error=error,
        api_url=f"{str(request.base_url).rstrip('/')}/v1",
    )


@router.get("/account/keys", response_class=HTMLResponse)
async def api_keys(
    request: Request, principal: PagePrincipal, listing: ListingDep, services: ServicesDep
) -> HTMLResponse:
    return await keys_page(request, services, principal, listing)


@router.post("/account/keys", response_class=HTMLResponse)
async def create_key(
    request: Request, principal: PagePrincipal, listing: ListingDep, services: ServicesDep
) -> HTMLResponse:
    """The new key is shown in full on this response only: only its digest is stored."""
    account = principal.account
    if account is None:
        return await not_enabled(request, listing, status_code=404)
    error = await csrf_refusal(request, principal)
    if error is not None:
        return await keys_page(request, services, principal, listing, error=error, status_code=403)
    form = await request.form()
    name, store = field(form, "name"), field(form, "no_store") != "1"
    new_key = await to_thread.run_sync(
        lambda: services.accounts.create_key(account.username, account, name, store=store)
    )
    return await keys_page(request, services, principal, listing, new_key=new_key)


@router.post("/account/keys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_key(
    request: Request,
    key_id: str,
    principal: PagePrincipal,
    listing: ListingDep,
    services: ServicesDep,
) -> Response:
    """Revoke one of the user's keys: refused at once. Another user's key is not found."""
    account = principal.account
    if account is None:
        return await not_enabled(request, listing, status_code=404)
    error = await csrf_refusal(request, principal)
    if error is not None:
        return await keys_page(request, services, principal, listing, error=error, status_code=403)

    try:
        await to_thread.run_sync(
            lambda: services.accounts.revoke_key(account.username, account, key_id)
        )
    except NotFoundError:
        error = strings_for(request)["key_not_found"]
        return await keys_page(request, services, principal, listing, error=error, status_code=404)
    return redirect(f"{root_of(request)}/account/keys")
