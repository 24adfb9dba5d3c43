"""Signing in and out, and signing up, on a server with accounts (without any, these pages
lead home: everyone there is its single local user).

- ``/login`` answers the same message for an unknown user and a wrong password; too many
  failures answer 429 with the wait. ``next`` may only lead to a path on this site.
- A sign-in always starts a new session (and ends the one this browser had): its cookie is
  HttpOnly, SameSite=Lax, Path=/, and ``__Host-`` + Secure over HTTPS.
- ``/signup`` follows the site's policy (closed, invite, approval); an invitation link
  (``?invite=…``) works under any policy, once.
"""

from __future__ import annotations

import math
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from causerie.auth.principal import Principal
from causerie.deps import ServicesDep, session_token
from causerie.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    PermissionDeniedError,
    QuotaExceededError,
)
from causerie.services import Services
from causerie.web.account_forms import (
    clear_session_cookie,
    client_ip,
    csrf_refusal,
    explain,
    field,
    local_target,
    redirect,
    root_of,
    set_session_cookie,
    strings_for,
)
from causerie.web.rendering import fragment

router = APIRouter(include_in_schema=False)


def current(services: Services, token: str | None) -> tuple[bool, Principal | None]:
    """Whether the server has accounts, and who the request's session belongs to."""
    return services.gate.multi_user(), services.gate.page_principal(token)


def notice(request: Request, text: str, *, title: str = "", status_code: int = 200) -> HTMLResponse:
    """A short page that says one thing (sign-up closed, waiting for approval...)."""
    return fragment(
        request, "account/notice.html", status_code=status_code, notice=text, title=title
    )


# -- signing in and out -------------------------------------------------------------------------


def login_form(
    request: Request,
    services: Services,
    target: str,
    *,
    username: str = "",
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return fragment(
        request,
        "account/login.html",
        status_code=status_code,
        target=target,
        username=username,
        error=error,
        open_signup=services.accounts.signup_policy() == "approval",
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request, services: ServicesDep, next_: Annotated[str, Query(alias="next")] = ""
) -> Response:
    target = local_target(next_, root_of(request))
    multi_user, principal = await to_thread.run_sync(current, services, session_token(request))
    if not multi_user:
        return redirect(f"{root_of(request)}/")
    if principal is not None:
        return redirect(target)
    return await to_thread.run_sync(lambda: login_form(request, services, target))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    target = local_target(field(form, "next"), root_of(request))
    username = field(form, "username")[:64]
    if not await to_thread.run_sync(services.gate.multi_user):
        return redirect(f"{root_of(request)}/")

    def again(error: str, status_code: int) -> HTMLResponse:
        return login_form(
            request, services, target, username=username, error=error, status_code=status_code
        )

    refusal = await csrf_refusal(request, None)
    if refusal is not None:
        return await to_thread.run_sync(again, refusal, 403)
    password, ip, previous = field(form, "password"), client_ip(request), session_token(request)
    try:
        token, _ = await to_thread.run_sync(
            lambda: services.accounts.sign_in(username, password, ip=ip)
        )
    except QuotaExceededError as exc:
        throttled = await to_thread.run_sync(again, explain(exc, strings_for(request)), 429)
        throttled.headers["Retry-After"] = str(math.ceil(exc.retry_after))
        return throttled
    except AuthenticationError as exc:
        return await to_thread.run_sync(again, explain(exc, strings_for(request)), 401)
    if previous:  # a session never survives a new sign-in in the same browser
        await to_thread.run_sync(services.accounts.sign_out, previous)
    response = redirect(target)
    set_session_cookie(response, request, token)
    return response


@router.post("/logout")
async def logout(request: Request, services: ServicesDep) -> Response:
    """End this browser's session. Without a live session there is nothing to protect, so the
    CSRF token is checked only when there is one."""
    token = session_token(request)
    _, principal = await to_thread.run_sync(current, services, token)
    if principal is not None and principal.account is None:
        return redirect(f"{root_of(request)}/")
    if principal is not None and token:  # signed in: the form must be this session's
        refusal = await csrf_refusal(request, principal)
        if refusal is not None:
            return notice(request, refusal, status_code=403)
        await to_thread.run_sync(services.accounts.sign_out, token)
    response = redirect(f"{root_of(request)}/login")
    clear_session_cookie(response, request)
    return response


# -- signing up ---------------------------------------------------------------------------------


def signup_refusal(request: Request, services: Services, invite: str) -> HTMLResponse | None:
    """The page that replaces the sign-up form when the site takes no new accounts (or the
    invitation is not valid); None when the form may be shown."""
    strings = strings_for(request)
    if invite:
        if services.accounts.credentials.invite_valid(invite):
            return None
        return notice(request, strings["invite_invalid"], status_code=400)
    policy = services.accounts.signup_policy()
    if policy == "approval":
        return None
    text = strings["signup_invite_only"] if policy == "invite" else strings["signup_closed_text"]
    return notice(request, text, title=strings["signup_closed"], status_code=403)


def signup_form(
    request: Request, *, invite: str, username: str = "", error: str = "", status_code: int = 200
) -> HTMLResponse:
    return fragment(
        request,
        "account/signup.html",
        status_code=status_code,
        invite=invite,
        username=username,
        error=error,
    )


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request, services: ServicesDep, invite: str = "") -> Response:
    multi_user, principal = await to_thread.run_sync(current, services, session_token(request))
    if not multi_user or principal is not None:
        return redirect(f"{root_of(request)}/")
    invite = invite[:200]
    refused = await to_thread.run_sync(signup_refusal, request, services, invite)
    return refused or signup_form(request, invite=invite)


@router.post("/signup", response_class=HTMLResponse)
async def signup(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    username, invite = field(form, "username")[:64], field(form, "invite")[:200]
    password = field(form, "password")
    strings = strings_for(request)
    if not await to_thread.run_sync(services.gate.multi_user):
        return redirect(f"{root_of(request)}/")
    refusal = await csrf_refusal(request, None)
    if refusal is not None:
        return signup_form(
            request, invite=invite, username=username, error=refusal, status_code=403
        )
    if password != field(form, "repeat_password"):
        return signup_form(
            request,
            invite=invite,
            username=username,
            error=strings["passwords_differ"],
            status_code=400,
        )
    ip = client_ip(request)
    try:
        account = await to_thread.run_sync(
            lambda: services.accounts.sign_up(username, password, invite=invite or None, ip=ip)
        )
    except PermissionDeniedError as exc:
        return notice(
            request, explain(exc, strings), title=strings["signup_closed"], status_code=403
        )
    except (InvalidRequestError, ConflictError) as exc:
        if exc.param == "invite":
            return notice(request, explain(exc, strings), status_code=400)
        status = 409 if isinstance(exc, ConflictError) else 400
        error = explain(exc, strings)
        return signup_form(
            request, invite=invite, username=username, error=error, status_code=status
        )
    if account.status != "active":
        return notice(request, strings["signup_pending_text"], title=strings["signup_pending"])
    token = await to_thread.run_sync(services.accounts.credentials.start_session, account.id)
    response = redirect(f"{root_of(request)}/")
    set_session_cookie(response, request, token)
    return response
