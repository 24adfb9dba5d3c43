"""``/api/imports``: upload an export (ChatGPT's zip or its ``conversations.json``, an Open
WebUI chat export) and follow its import.

``POST`` answers at once (202) with the job ``queued``; the import runs in the background, one
at a time per server (``chat/import_queue.py``), and ``GET /api/imports/{id}`` tells how far it
got: ``queued``, ``running`` (``progress``: conversations ``done`` of ``total``), ``done``
(``summary``: counts, skipped conversations with their reasons, custom instructions found) or
``failed`` (``error``; nothing was imported). The upload is spooled to a private temporary
file, removed once the import ended; ``CAUSERIE_MAX_IMPORT_BYTES`` caps it (413). The caller
is checked before a byte of the body is read, and the body is streamed once, straight into
that file (``api/upload_stream.py``). Jobs are stored in the database: any replica answers for
them. Callers: an API key, or the signed-in page (its CSRF token in the ``X-CSRF-Token``
header). Another user's import is 404.
"""

from __future__ import annotations

from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel

from causerie.api.schemas import error_responses
from causerie.api.upload_stream import MULTIPART_FILE, spool_upload
from causerie.deps import ImportJobsDep, ServicesDep, Uploader
from causerie.retrieval.extract import display_name
from causerie.types import ImportJob, ImportState

router = APIRouter(prefix="/api/imports", tags=["imports"])


class ImportProgress(BaseModel):
    done: int  # conversations read so far
    total: int | None  # conversations in the export (None until it is open)


class SkippedObject(BaseModel):
    reason: str
    external_id: str | None
    title: str | None
    where: str  # its file and position in the export


class ImportSummaryObject(BaseModel):
    """What the import did: ``created`` new conversations, ``updated`` ones imported before,
    ``unchanged`` ones already here as they are; new ``messages`` shown and ``hidden``;
    attachments stored or kept as placeholders (``attachments_missing``)."""

    source: str  # chatgpt, openwebui
    total: int
    imported: int
    created: int
    updated: int
    unchanged: int
    messages: int
    hidden: int
    attachments_stored: int
    attachments_missing: int
    skipped: list[SkippedObject]
    custom_instructions: list[str]  # kept with their conversations, never made messages
    warnings: list[str]


class ImportObject(BaseModel):
    id: str
    object: Literal["import"] = "import"
    filename: str
    state: ImportState
    progress: ImportProgress
    summary: ImportSummaryObject | None
    error: str | None
    created_at: int
    finished_at: int | None


def import_object(job: ImportJob) -> ImportObject:
    summary: dict[str, Any] | None = job.summary
    return ImportObject(
        id=job.id,
        filename=job.filename,
        state=job.state,
        progress=ImportProgress(done=job.done, total=job.total),
        summary=ImportSummaryObject.model_validate(summary) if summary else None,
        error=job.error,
        created_at=int(job.created_at.timestamp()),
        finished_at=int(job.finished_at.timestamp()) if job.finished_at else None,
    )


@router.post(
    "",
    status_code=202,
    summary="Upload an export to import (imported in the background)",
    responses=error_responses(400, 401, 403, 413),
    openapi_extra=MULTIPART_FILE,
)
async def upload_export(
    request: Request, principal: Uploader, services: ServicesDep
) -> ImportObject:
    """A ChatGPT export (the zip, or its ``conversations.json``) or an Open WebUI chat export
    (multipart, the field ``file``); the format is read from the content, not the name."""
    upload = await spool_upload(request, "file", services.settings.max_import_bytes)
    name = display_name(upload.filename or "export")
    job = await to_thread.run_sync(services.imports.submit, principal.owner, name, upload.path)
    return import_object(job)


@router.get(
    "/{import_id}",
    summary="An import: its state, progress, summary or error",
    responses=error_responses(401, 404),
)
async def get_import(import_id: str, jobs: ImportJobsDep) -> ImportObject:
    return import_object(await to_thread.run_sync(jobs.get, import_id))
