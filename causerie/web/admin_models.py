"""The admin's models page: the local models (loaded or not, the memory each holds, the
budget), and pulls from the Hugging Face Hub with their progress.

A pull is started by a form (audited, with the admin as actor) and runs in the background
(``hub/jobs.py``); the page polls ``/admin/models/pulls`` for its progress and reloads once a
pull has ended, so a new model appears in the list (and in every model picker) at once.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from causerie.deps import ListingDep, ServicesDep, get_admin
from causerie.hub.inventory import human_size
from causerie.services import Services
from causerie.web.admin import AdminForm, AdminRoute, field, render

__all__ = ["router"]

MAX_NAME = 200  # a repo id (96 characters at most on the hub), a quantization or file name

router = APIRouter(
    prefix="/admin/models",
    include_in_schema=False,
    route_class=AdminRoute,
    dependencies=[Depends(get_admin)],
)


def models_context(services: Services) -> dict[str, Any]:
    """Every local model with its file size and, when loaded, the memory it holds."""
    pool = services.local_models
    rows = []
    for info in pool.models():
        resident = pool.resident.get(info.id)
        path = pool.path_of(info.id)
        rows.append(
            {
                "name": info.id,
                "file": path.name,
                "size": human_size(path.stat().st_size),
                "default": info.id == pool.default.model.id,
                "memory": human_size(resident.memory) if resident is not None else "",
            }
        )
    return {
        "models": rows,
        "budget": human_size(pool.budget),
        "pulls": [job.summary() for job in services.pulls.all()],
    }


@router.get("", response_class=HTMLResponse)
async def models_page(
    request: Request, listing: ListingDep, services: ServicesDep, error: str = ""
) -> HTMLResponse:
    context = await to_thread.run_sync(models_context, services)
    status = 400 if error else 200
    return await render(
        request, listing, "models", status_code=status, error=error[:300], done="", **context
    )


@router.post("/pull")
async def start_pull(
    request: Request, listing: ListingDep, services: ServicesDep, admin: AdminForm
) -> Response:
    name = field(await request.form(), "name")
    if not name or len(name) > MAX_NAME or any(c.isspace() for c in name):
        error = f"Name a model: a catalog alias or org/repo[:QUANT], at most {MAX_NAME} characters."
        return await models_page(request, listing, services, error=error)
    services.pulls.start(name, admin.username)
    await to_thread.run_sync(
        lambda: services.accounts.audit.record(admin.username, "model_pull", name)
    )
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return RedirectResponse(f"{root}/admin/models", 303)


@router.get("/pulls")
async def pulls(services: ServicesDep) -> JSONResponse:
    """The pulls and their progress, newest first (the page polls this)."""
    return JSONResponse({"pulls": [job.summary() for job in services.pulls.all()]})
