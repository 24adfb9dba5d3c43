"""The files imported messages carried, served to their owner's page: ``GET /attachments/{id}``.

The bytes came from someone else's export, so they are served as data, never as a page: a
raster image (PNG, JPEG, GIF, WebP, AVIF, BMP, ICO) inline, so that the thread shows it in an
``<img>``; anything else (an SVG, a PDF, HTML, a type the export got wrong) as a download.
Every answer says ``nosniff`` and carries a sandboxing Content-Security-Policy that lets
nothing run, so an SVG opened by its address cannot execute its scripts either. Another
user's attachment, and a placeholder (its bytes were not in the export), are 404.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import Response

from causerie.deps import TreeDep
from causerie.storage.attachments import StoredAttachment

__all__ = ["INLINE_TYPES", "attachment_headers", "router"]

router = APIRouter(include_in_schema=False)

INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "image/x-icon",
        "image/vnd.microsoft.icon",
    }
)
# Nothing in the answer may run, load or be framed, even when opened as a page of its own.
ATTACHMENT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def attachment_headers(
    attachment: StoredAttachment, download: bool = False
) -> tuple[str, dict[str, str]]:
    """The media type and headers ``attachment`` is served with: inline only for a raster
    image (unless ``download``), its stored type when it is a well-formed one, else bytes."""
    stored = (attachment.mime_type or "").split(";")[0].strip().lower()
    media_type = stored if MEDIA_TYPE.match(stored) else "application/octet-stream"
    inline = media_type in INLINE_TYPES and not download
    name = attachment.name or "attachment"
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", name)[:100] or "attachment"
    disposition = (
        f'{"inline" if inline else "attachment"}; filename="{fallback}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    )
    return media_type, {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": ATTACHMENT_POLICY,
        "Cache-Control": "no-store",  # a deleted conversation's images leave no copy behind
    }


@router.get("/attachments/{attachment_id}")
async def attachment(attachment_id: str, tree: TreeDep, download: bool = False) -> Response:
    """An imported attachment's bytes, for the page that shows its message."""
    stored, data = await to_thread.run_sync(tree.attachment, attachment_id)
    media_type, headers = attachment_headers(stored, download)
    return Response(data, media_type=media_type, headers=headers)
