"""``/api/files``: upload, list, read the status of, download and delete one's documents.

An upload is answered at once (202) with the file ``pending``: its text is read in the
background (``retrieval/ingest.py``), and ``GET /api/files/{id}`` tells how far it got:
``pending``, ``extracting``, ``searchable`` (by keyword), ``embedding`` (``embedded`` of
``passages`` have vectors so far), ``ready``, ``no_text`` (a scan: nothing to search) or
``failed`` with the reason in ``status_details``. The same bytes uploaded twice are stored once.
Callers: an API key, or the signed-in page (its CSRF token on uploads and deletions).
A download is always an attachment, never rendered: an uploaded HTML page is not a page of ours.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from causerie.api.schemas import error_responses
from causerie.deps import DocumentsDep, ServicesDep
from causerie.retrieval.extract import check_size, display_name, kind_of
from causerie.types import FileCounts, StoredFile

router = APIRouter(prefix="/api/files", tags=["files"])


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    filename: str
    bytes: int
    created_at: int
    kind: str
    status: str
    status_details: str | None
    pages: int
    passages: int
    embedded: int
    conversation_id: str | None
    project_id: str | None


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


def file_object(stored: StoredFile) -> FileObject:
    return FileObject(
        id=stored.id,
        filename=stored.name,
        bytes=stored.size,
        created_at=int(stored.created_at.timestamp()),
        kind=stored.kind,
        status=stored.status,
        status_details=stored.error,
        pages=stored.pages,
        passages=stored.passages,
        embedded=stored.embedded,
        conversation_id=stored.conversation_id,
        project_id=stored.project_id,
    )


@router.post(
    "",
    status_code=202,
    summary="Upload a file (read in the background)",
    responses=error_responses(400, 401, 403, 404, 413),
)
async def upload_file(
    file: UploadFile,
    documents: DocumentsDep,
    services: ServicesDep,
    conversation_id: Annotated[str | None, Form()] = None,
    project_id: Annotated[str | None, Form()] = None,
) -> FileObject:
    name = display_name(file.filename or "file")
    data = await file.read()
    settings = services.settings
    check_size(name, data, services.ingestor.limits)
    kind = kind_of(name, data)  # refuses what cannot be read, before anything is stored
    stored = await to_thread.run_sync(
        lambda: documents.add(
            name,
            kind,
            data,
            conversation_id=conversation_id or None,
            project_id=project_id or None,
            limits=FileCounts(settings.max_files_per_user, settings.max_files_per_chat),
        )
    )
    services.ingestor.submit()
    return file_object(stored)


@router.get("", summary="List your files", responses=error_responses(401))
async def list_files(
    documents: DocumentsDep, conversation_id: str | None = None, project_id: str | None = None
) -> FileList:
    files = await to_thread.run_sync(
        lambda: documents.files(conversation_id=conversation_id, project_id=project_id)
    )
    return FileList(data=[file_object(stored) for stored in files])


@router.get(
    "/{file_id}", summary="A file and how far its reading got", responses=error_responses(401, 404)
)
async def get_file(file_id: str, documents: DocumentsDep) -> FileObject:
    return file_object(await to_thread.run_sync(documents.get, file_id))


@router.get(
    "/{file_id}/content",
    summary="Download a file, as uploaded",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **error_responses(401, 404)},
)
async def download_file(file_id: str, documents: DocumentsDep) -> Response:
    name, data = await to_thread.run_sync(documents.content, file_id)
    disposition = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": disposition},
    )


class PassageObject(BaseModel):
    """A cited passage in its page: ``page_text[start:end]`` is the passage."""

    object: Literal["file.passage"] = "file.passage"
    file_id: str
    filename: str
    page: int | None
    position: int
    page_text: str
    start: int
    end: int


@router.get(
    "/{file_id}/passages/{position}",
    summary="A passage of a file, in its page (what a citation opens)",
    responses=error_responses(401, 404),
)
async def get_passage(file_id: str, position: int, documents: DocumentsDep) -> PassageObject:
    view = await to_thread.run_sync(documents.passage, file_id, position)
    return PassageObject(
        file_id=view.file_id,
        filename=view.file_name,
        page=view.page,
        position=view.position,
        page_text=view.page_text,
        start=view.start,
        end=view.end,
    )


@router.delete(
    "/{file_id}",
    summary="Delete a file (its text and index entries with it)",
    responses=error_responses(401, 403, 404),
)
async def delete_file(file_id: str, documents: DocumentsDep) -> FileDeleted:
    await to_thread.run_sync(documents.delete, file_id)
    return FileDeleted(id=file_id)
