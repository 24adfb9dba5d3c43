"""``GET /api/export``: *Export all my data*, the caller's Causerie archive (docs/archive.md)
streamed as a zip while it is written: every conversation with its whole tree, attachments,
feedback, share links, custom instructions, private names and projects. Only ever the
caller's own (an API key's owner, or the signed-in page); ``causerie import`` and
``POST /api/imports`` read it back."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from causerie.api.schemas import error_responses
from causerie.chat.archive_export import Owner, archive_chunks, archive_filename
from causerie.deps import RestPrincipal, ServicesDep

router = APIRouter(prefix="/api/export", tags=["imports"])

ZIP = "application/zip"


@router.get(
    "",
    summary="Export all your data as a Causerie archive (a zip, streamed)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {ZIP: {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(401),
    },
)
async def export_everything(principal: RestPrincipal, services: ServicesDep) -> StreamingResponse:
    username = principal.account.username if principal.account else None
    owner = Owner(principal.owner, username)

    def chunks() -> Iterator[bytes]:  # a sync iterator: Starlette reads it in a worker thread
        yield from archive_chunks(services.database, [owner])

    filename = archive_filename(username)
    return StreamingResponse(
        chunks(),
        media_type=ZIP,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
