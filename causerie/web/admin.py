"""The admin pages: accounts, groups, usage, the audit log and the sign-up policy.

Every route needs an admin: a signed-in user who is not one gets a readable 403 page, a visitor
the sign-in page. Every change is a plain HTML form (``POST``, urlencoded) carrying the page's
``csrf_token``, and goes through ``Accounts`` with the admin's username as the actor, so it is
written to the audit log. A change answers ``303`` back to its page; a refused one shows the
page again with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any, cast
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from causerie.auth.accounts import SIGNUP_POLICIES
from causerie.deps import AdminPrincipal, ListingDep, ServicesDep, check_csrf, get_admin
from causerie.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from causerie.services import Services
from causerie.storage.listing import ConversationListing
from causerie.storage.usage import UsageLedger, today
from causerie.storage.users import Account, Limits, Role, Status
from causerie.web.i18n import catalogue, language_of
from causerie.web.rendering import fragment, model_ids, page
from causerie.web.usage_chart import ChartText, usage_chart
from causerie.web.usage_report import usage_report
from causerie.web.views import load_sidebar

__all__ = ["router"]

AUDIT_EVENTS = 200
MAX_DAYS = 366
MAX_LIMIT = 10**12
REFUSALS = (InvalidRequestError, ConflictError, NotFoundError)


class AdminRoute(APIRoute):
    """Shows a refusal (not an admin, a form without its CSRF token) as a readable page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except PermissionDeniedError as exc:
                expired = exc.code == "csrf_failed"
                return fragment(request, "admin/forbidden.html", status_code=403, expired=expired)

        return guarded


router = APIRouter(
    prefix="/admin",
    include_in_schema=False,
    route_class=AdminRoute,
    dependencies=[Depends(get_admin)],
)


async def admin_form(request: Request, admin: AdminPrincipal) -> Account:
    """The admin behind a form that carries the page's CSRF token."""
    await check_csrf(request, admin)
    assert admin.account is not None  # an admin always has an account
    return admin.account


AdminForm = Annotated[Account, Depends(admin_form)]


# -- rendering ----------------------------------------------------------------------------------


def number_format(lang: str) -> Callable[[int], str]:
    """Exact numbers with thousands separators: 1,234,567 (en), 1 234 567 (fr)."""
    if lang == "fr":
        return lambda n: f"{n:,}".replace(",", "\u202f")
    return lambda n: f"{n:,}"


async def render(
    request: Request,
    listing: ConversationListing,
    section: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    sidebar = await to_thread.run_sync(load_sidebar, listing)
    return page(
        request,
        f"admin/{section}.html",
        sidebar=sidebar,
        status_code=status_code,
        section=section,
        num=number_format(language_of(request)),
        **context,
    )


def model_choices(services: Services) -> Callable[[tuple[str, ...] | None], list[str]]:
    """The models a form offers: the registry's, plus any already chosen that it lacks now."""
    offered = model_ids(services.registry)
    return lambda chosen: sorted({*offered, *(chosen or ())})


def users_context(services: Services) -> dict[str, Any]:
    users = services.accounts.users
    settings = services.settings
    return {
        "accounts": users.all(),
        "groups": sorted(users.groups()),
        "model_choices": model_choices(services),
        "defaults": Limits(
            settings.default_tokens_per_day,
            settings.default_requests_per_minute,
            settings.default_concurrent_requests,
        ),
        "draft": {"username": "", "role": "user"},
    }


def groups_context(services: Services) -> dict[str, Any]:
    users = services.accounts.users
    groups = users.groups()
    members: dict[str, int] = {}
    for account in users.all():
        if account.group:
            members[account.group] = members.get(account.group, 0) + 1
    return {
        "groups": [(name, groups[name], members.get(name, 0)) for name in sorted(groups)],
        "model_choices": model_choices(services),
        "retention": services.retention.policy(),
    }


def settings_context(services: Services) -> dict[str, Any]:
    return {
        "policy": services.accounts.signup_policy(),
        "policies": SIGNUP_POLICIES,
        "invite_link": None,
        "retention": services.retention.policy(),
    }


CONTEXTS: dict[str, Callable[[Services], dict[str, Any]]] = {
    "users": users_context,
    "groups": groups_context,
    "settings": settings_context,
}


async def show(
    request: Request,
    listing: ConversationListing,
    services: Services,
    section: str,
    **extra: Any,
) -> HTMLResponse:
    context = await to_thread.run_sync(CONTEXTS[section], services)
    return await render(request, listing, section, **{"done": "", "error": "", **context, **extra})


async def apply(
    request: Request,
    listing: ConversationListing,
    services: Services,
    section: str,
    change: Callable[[FormData], str],
) -> Response:
    """Run ``change`` on the posted form; back to the page (303), or the page with the reason.

    ``change`` answers what it changed, which the page then names."""
    form = await request.form()
    try:
        changed = await to_thread.run_sync(change, form)
    except REFUSALS as exc:
        status = exc.status
        extra: dict[str, Any] = {"error": exc.message, "status_code": status}
        if section == "users":
            extra["draft"] = {"username": field(form, "username"), "role": field(form, "role")}
        return await show(request, listing, services, section, **extra)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    path = "/admin" if section == "users" else f"/admin/{section}"
    return RedirectResponse(f"{root}{path}?done={quote(changed)}", 303)


# -- reading forms ------------------------------------------------------------------------------


def field(form: FormData, name: str, *, strip: bool = True) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def one_of(value: str, allowed: tuple[str, ...], param: str) -> str:
    if value not in allowed:
        raise InvalidRequestError(f"The {param} is one of {', '.join(allowed)}.", param=param)
    return value


def whole_number(text: str) -> int | None:
    """``text`` as a whole number when it is ASCII digits only ("²" and "③" are digits to
    Python's ``isdigit`` but not to ``int``)."""
    return int(text) if text.isascii() and text.isdigit() else None


def limit(form: FormData, name: str) -> int | None:
    """A limit field: blank is the site default (None), else a whole number."""
    text = field(form, name).replace(",", "").replace(" ", "")
    if not text:
        return None
    number = whole_number(text)
    if number is None or number > MAX_LIMIT:
        raise InvalidRequestError(
            "A limit is a whole number; leave it blank for the site default.", param=name
        )
    return number


def chosen_models(form: FormData) -> list[str] | None:
    """The checked models; "all" checked: no restriction (None)."""
    if field(form, "all"):
        return None
    picked = {m.strip()[:200] for m in form.getlist("models") if isinstance(m, str)}
    return sorted(m for m in picked if m)


def group_name(text: str) -> str:
    if len(text) > 64:
        raise InvalidRequestError("A group name is at most 64 characters.", param="group")
    return text


def named_group(form: FormData) -> str:
    """The form's ``group``, which must be given."""
    name = group_name(field(form, "group"))
    if not name:
        raise InvalidRequestError("Give the group a name.", param="group")
    return name


# -- accounts -----------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def users_page(
    request: Request, listing: ListingDep, services: ServicesDep, done: str = ""
) -> HTMLResponse:
    return await show(request, listing, services, "users", done=done[:100])


@router.post("/users")
async def create_user(
    request: Request, listing: ListingDep, services: ServicesDep, admin: AdminForm
) -> Response:
    def change(form: FormData) -> str:
        role = cast(Role, one_of(field(form, "role") or "user", ("user", "admin"), "role"))
        password = field(form, "password", strip=False)
        account = services.accounts.create_user(
            admin.username, field(form, "username"), password, role=role
        )
        return account.username

    return await apply(request, listing, services, "users", change)


@router.post("/users/{user_id}/{setting}")
async def change_user(
    request: Request,
    user_id: str,
    setting: str,
    listing: ListingDep,
    services: ServicesDep,
    admin: AdminForm,
) -> Response:
    """One setting of one account: status, password, role, limits, models or group."""
    accounts, actor = services.accounts, admin.username

    def change(form: FormData) -> str:
        if setting == "status":
            status = one_of(field(form, "status"), ("active", "disabled"), "status")
            account = accounts.set_status(actor, user_id, cast(Status, status))
        elif setting == "password":
            account = accounts.reset_password(actor, user_id, field(form, "password", strip=False))
        elif setting == "role":
            role = one_of(field(form, "role"), ("user", "admin"), "role")
            account = accounts.set_role(actor, user_id, cast(Role, role))
        elif setting == "limits":
            limits = Limits(
                limit(form, "tokens_per_day"),
                limit(form, "requests_per_minute"),
                limit(form, "concurrent_requests"),
            )
            account = accounts.set_limits(actor, user_id, limits)
        elif setting == "models":
            account = accounts.set_models(actor, user_id, chosen_models(form))
        elif setting == "group":
            account = accounts.set_group(actor, user_id, group_name(field(form, "group")) or None)
        else:
            raise NotFoundError(f"There is no account setting {setting!r}.")
        return account.username

    return await apply(request, listing, services, "users", change)


# -- groups -------------------------------------------------------------------------------------


@router.get("/groups", response_class=HTMLResponse)
async def groups_page(
    request: Request, listing: ListingDep, services: ServicesDep, done: str = ""
) -> HTMLResponse:
    return await show(request, listing, services, "groups", done=done[:100])


@router.post("/groups")
async def set_group_models(
    request: Request, listing: ListingDep, services: ServicesDep, admin: AdminForm
) -> Response:
    def change(form: FormData) -> str:
        name = named_group(form)
        services.accounts.set_group_models(admin.username, name, chosen_models(form))
        return name

    return await apply(request, listing, services, "groups", change)


# -- usage and audit ----------------------------------------------------------------------------


@router.get("/usage", response_class=HTMLResponse)
async def usage_page(
    request: Request, listing: ListingDep, services: ServicesDep, days: int = 30
) -> HTMLResponse:
    days = min(max(days, 1), MAX_DAYS)
    until = today()
    since = until - timedelta(days=days - 1)
    strings = catalogue(language_of(request))

    def load() -> Any:
        lines = UsageLedger(services.database).lines(since=since)
        names = {"": strings["admin_key_none"]}
        for user_id in {line.user_id for line in lines if line.key_id}:
            for key in services.accounts.credentials.keys(user_id):
                names[key.id] = f"{key.name} ({key.hint})"
        return usage_report(
            lines,
            since=since,
            until=until,
            key_name=lambda key: names.get(key, key),
            prices=services.registry.price_of,
        )

    report = await to_thread.run_sync(load)
    text = ChartText(
        strings["admin_chart_title"], strings["admin_prompt"], strings["admin_completion"]
    )
    chart = usage_chart(report.chart, text, number_format(language_of(request)))
    return await render(request, listing, "usage", report=report, chart=chart, days=days)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request, listing: ListingDep, services: ServicesDep) -> HTMLResponse:
    events = await to_thread.run_sync(services.accounts.audit.recent, AUDIT_EVENTS)
    return await render(request, listing, "audit", events=events)


# -- site settings ------------------------------------------------------------------------------


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request, listing: ListingDep, services: ServicesDep, done: str = ""
) -> HTMLResponse:
    return await show(request, listing, services, "settings", done=done[:100])


@router.post("/settings/signup")
async def set_signup_policy(
    request: Request, listing: ListingDep, services: ServicesDep, admin: AdminForm
) -> Response:
    def change(form: FormData) -> str:
        policy = field(form, "policy")
        services.accounts.set_signup_policy(admin.username, policy)
        return policy

    return await apply(request, listing, services, "settings", change)


@router.post("/settings/invite", response_class=HTMLResponse)
async def create_invite(
    request: Request, listing: ListingDep, services: ServicesDep, admin: AdminForm
) -> HTMLResponse:
    """A new invitation; its link is shown on this answer only (it is stored hashed)."""
    form = await request.form()
    text = field(form, "days") or "7"
    number = whole_number(text)
    days = number if number is not None and 1 <= number <= 90 else 7
    token = await to_thread.run_sync(
        lambda: services.accounts.create_invite(admin.username, admin.id, days=days)
    )
    link = f"{str(request.base_url).rstrip('/')}/signup?invite={quote(token)}"
    return await show(request, listing, services, "settings", invite_link=link, invite_days=days)
