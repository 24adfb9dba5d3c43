"""A project's page (``/p/{id}``): its name, instructions and privacy, its files, its chats,
and a composer whose first message starts a chat in it.

The page changes the project through the REST routes (``/api/projects``, ``/api/files`` with
``project_id``) with its CSRF token, like the API's clients do; only reading happens here.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from causerie.deps import ListingDep, PagePrincipal, RegistryDep, ServicesDep
from causerie.errors import NotFoundError
from causerie.storage.projects import ProjectStore
from causerie.web.rendering import model_ids, page
from causerie.web.views import SidebarItem, load_sidebar

PROJECT_CHATS = 100  # listed on its page, newest first

router = APIRouter(include_in_schema=False)


@router.get("/p/{project_id}", response_class=HTMLResponse)
async def project_page(
    request: Request,
    project_id: str,
    listing: ListingDep,
    registry: RegistryDep,
    principal: PagePrincipal,
    services: ServicesDep,
) -> HTMLResponse:
    projects = ProjectStore(services.database, principal.owner)

    def load() -> dict[str, Any]:
        project = projects.get(project_id)
        chats = listing.page(project_id=project_id, limit=PROJECT_CHATS)
        return {
            "project": project,
            "project_chats": [SidebarItem.of(c) for c in chats.items],
            "sidebar": load_sidebar(listing),
            "models": model_ids(registry, services.quotas.allowed_models(principal)),
        }

    try:
        data = await to_thread.run_sync(load)
    except NotFoundError:  # another's project is as absent as a missing one
        sidebar = await to_thread.run_sync(load_sidebar, listing)
        return page(request, "not_found.html", sidebar=sidebar, status_code=404)
    return page(request, "chat.html", **data)
