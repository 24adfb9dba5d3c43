"""The admin's erasure and retention actions: deleting an account with all it stored, and how
long conversations are kept (the site's period on ``/admin/settings``, a group's own on
``/admin/groups``). Each goes through ``auth.accounts`` or ``chat.retention`` with the admin as
actor, so it is audited; the purge itself runs in the background (``chat/retention.py``).

Its router is included before the admin router, whose ``/users/{id}/{setting}`` would otherwise
take ``/users/{id}/delete``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from causerie.deps import ListingDep, ServicesDep, get_admin
from causerie.errors import InvalidRequestError
from causerie.web.account_forms import clear_session_cookie, client_ip, root_of
from causerie.web.admin import AdminForm, AdminRoute, apply, field, named_group, whole_number

__all__ = ["router"]

router = APIRouter(
    prefix="/admin",
    include_in_schema=False,
    route_class=AdminRoute,
    dependencies=[Depends(get_admin)],
)


def days(form: FormData) -> int | None:
    """A retention period field: blank is None, else a whole number of days."""
    text = field(form, "days")
    number = whole_number(text) if text else None
    if text and number is None:
        raise InvalidRequestError("A retention period is a whole number of days.", param="days")
    return number


@router.post("/users/{user_id}/delete")
async def delete_user(
    request: Request,
    user_id: str,
    listing: ListingDep,
    services: ServicesDep,
    admin: AdminForm,
) -> Response:
    """Erase an account and all it stored, once its username is typed again; deleting
    oneself signs this browser out."""

    def change(form: FormData) -> str:
        account = services.accounts.users.get(user_id)
        if field(form, "confirm").lower() != account.username:
            raise InvalidRequestError(
                f"Type {account.username} to confirm the deletion.", param="confirm"
            )
        services.accounts.delete_user(admin.username, user_id, ip=client_ip(request))
        return account.username

    response = await apply(request, listing, services, "users", change)
    if user_id == admin.id and response.status_code == 303:
        response = RedirectResponse(f"{root_of(request)}/login", 303)
        clear_session_cookie(response, request)
    return response


@router.post("/groups/retention")
async def set_group_retention(
    request: Request, listing: ListingDep, services: ServicesDep, admin: AdminForm
) -> Response:
    """A group's own retention period: blank for the site's, 0 to keep its chats forever."""

    def change(form: FormData) -> str:
        name = named_group(form)
        services.retention.set_group_days(admin.username, name, days(form))
        return name

    return await apply(request, listing, services, "groups", change)


@router.post("/settings/retention")
async def set_retention(
    request: Request, listing: ListingDep, services: ServicesDep, admin: AdminForm
) -> Response:
    """How long conversations are kept: blank for ever (the default)."""

    def change(form: FormData) -> str:
        keep_pinned = bool(field(form, "keep_pinned"))
        services.retention.set_policy(admin.username, days(form), keep_pinned=keep_pinned)
        return "retention"

    return await apply(request, listing, services, "settings", change)
