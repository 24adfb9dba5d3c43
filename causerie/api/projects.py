"""``/api/projects``: create, list, read, rename, change the instructions of, archive and
delete one's projects, and put conversations in them.

A *local-only* project's chats never reach an external provider (the privacy firewall refuses
them; a route falls back to its local targets). A project's files are uploaded with ``project_id`` (``POST /api/files``); its chats follow its
instructions and are answered from its files as well as their own. ``DELETE`` deletes the
project with its chats and files (the page asks for a confirmation first). Callers: an API
key, or the signed-in page (its CSRF token on every change).
"""

from __future__ import annotations

from typing import Literal

from anyio import to_thread
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from causerie.api.schemas import error_responses
from causerie.deps import ProjectsDep
from causerie.types import Project

router = APIRouter(prefix="/api/projects", tags=["projects"])


class ProjectObject(BaseModel):
    id: str
    object: Literal["project"] = "project"
    name: str
    instructions: str
    archived: bool
    created_at: int
    updated_at: int
    conversations: int
    files: int
    local_only: bool


class ProjectList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ProjectObject]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    instructions: str = Field("", max_length=8000)
    local_only: bool = False


class ProjectChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    instructions: str | None = Field(None, max_length=8000)
    archived: bool | None = None
    local_only: bool | None = None


class ProjectDeleted(BaseModel):
    id: str
    object: Literal["project"] = "project"
    deleted: bool = True


class Moved(BaseModel):
    conversation_id: str
    project_id: str | None


def project_object(project: Project) -> ProjectObject:
    return ProjectObject(
        id=project.id,
        name=project.name,
        instructions=project.instructions,
        archived=project.archived,
        created_at=int(project.created_at.timestamp()),
        updated_at=int(project.updated_at.timestamp()),
        conversations=project.conversations,
        files=project.files,
        local_only=project.local_only,
    )


@router.post("", status_code=201, summary="Create a project", responses=error_responses(400, 401))
async def create_project(body: ProjectCreate, projects: ProjectsDep) -> ProjectObject:
    created = await to_thread.run_sync(
        lambda: projects.create(body.name, body.instructions, local_only=body.local_only)
    )
    return project_object(created)


@router.get("", summary="List your projects", responses=error_responses(401))
async def list_projects(projects: ProjectsDep, archived: bool = False) -> ProjectList:
    found = await to_thread.run_sync(lambda: projects.list(archived=archived))
    return ProjectList(data=[project_object(project) for project in found])


@router.get("/{project_id}", summary="A project", responses=error_responses(401, 404))
async def get_project(project_id: str, projects: ProjectsDep) -> ProjectObject:
    return project_object(await to_thread.run_sync(projects.get, project_id))


@router.patch(
    "/{project_id}",
    summary="Rename, change the instructions, archive or restore",
    responses=error_responses(400, 401, 404),
)
async def change_project(
    project_id: str, body: ProjectChange, projects: ProjectsDep
) -> ProjectObject:
    changed = await to_thread.run_sync(
        lambda: projects.update(
            project_id,
            name=body.name,
            instructions=body.instructions,
            archived=body.archived,
            local_only=body.local_only,
        )
    )
    return project_object(changed)


@router.delete(
    "/{project_id}",
    summary="Delete a project with its chats and files",
    responses=error_responses(401, 404),
)
async def delete_project(project_id: str, projects: ProjectsDep) -> ProjectDeleted:
    await to_thread.run_sync(projects.delete, project_id)
    return ProjectDeleted(id=project_id)


@router.put(
    "/{project_id}/conversations/{conversation_id}",
    summary="Put a conversation in the project",
    responses=error_responses(401, 404),
)
async def move_in(project_id: str, conversation_id: str, projects: ProjectsDep) -> Moved:
    await to_thread.run_sync(projects.move, conversation_id, project_id)
    return Moved(conversation_id=conversation_id, project_id=project_id)


@router.delete(
    "/{project_id}/conversations/{conversation_id}",
    summary="Take a conversation out of the project",
    responses=error_responses(401, 404),
)
async def move_out(project_id: str, conversation_id: str, projects: ProjectsDep) -> Moved:
    await to_thread.run_sync(projects.get, project_id)  # the project must be the caller's
    await to_thread.run_sync(projects.move, conversation_id, None)
    return Moved(conversation_id=conversation_id, project_id=None)
