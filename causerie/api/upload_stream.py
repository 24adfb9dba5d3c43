"""A multipart upload streamed once, straight into a private temporary file.

An ``UploadFile`` parameter makes FastAPI read the whole body (into Starlette's spooled file)
before the route's dependencies run: an anonymous client could make the server write gigabytes
to disk before its 401, and an authorised upload was copied twice. A route that takes
``request`` instead resolves its caller first, then calls ``spool_upload``: the body is parsed
as it arrives (python-multipart's streaming parser), the one file field written to a new file
(mode 0600) a megabyte at a time, in a worker thread, with the size cap checked as it grows.

``MULTIPART_FILE`` is the request body for the route's OpenAPI document (``openapi_extra``),
so that clients and the schema fuzz test still see the field.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from anyio import to_thread
from fastapi import Request
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from causerie.errors import InvalidRequestError, PayloadTooLargeError

__all__ = ["MULTIPART_FILE", "SpooledUpload", "spool_upload"]

FLUSH_BYTES = 1024 * 1024


def multipart_file(name: str) -> dict[str, Any]:
    """An OpenAPI request body: multipart, one required binary field ``name``."""
    schema = {
        "type": "object",
        "required": [name],
        "properties": {name: {"type": "string", "format": "binary"}},
    }
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


MULTIPART_FILE = multipart_file("file")


@dataclass(slots=True)
class SpooledUpload:
    """The file field's name as the client gave it, and where its bytes now are."""

    filename: str | None
    path: Path


@dataclass(slots=True)
class _Parts:
    """What the parser's callbacks learn, part by part."""

    wanted: str
    header: bytes = b""
    value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)
    in_file: bool = False
    found: bool = False
    filename: str | None = None
    pending: bytearray = field(default_factory=bytearray)

    def on_part_begin(self) -> None:
        self.headers, self.in_file = {}, False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header.lower()] = self.value
        self.header, self.value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if options.get(b"name", b"").decode("latin-1") == self.wanted and not self.found:
            self.in_file = self.found = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending += data[start:end]

    def on_part_end(self) -> None:
        self.in_file = False


async def spool_upload(request: Request, name: str, limit: int) -> SpooledUpload:
    """The multipart body's field ``name`` written to a new private file; 400 when the body
    is not multipart or lacks the field, 413 past ``limit`` bytes. The file is the caller's
    to remove; on any error it is removed here."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidRequestError(f"Send the file as multipart/form-data, in the field {name!r}.")
    parts = _Parts(name)
    parser = MultipartParser(boundary, _callbacks(parts))
    descriptor, temporary = tempfile.mkstemp(prefix="causerie-import-", suffix=".upload")
    path = Path(temporary)
    try:
        with os.fdopen(descriptor, "wb") as target:
            written = 0
            async for chunk in request.stream():
                try:
                    parser.write(chunk)
                except MultipartParseError as exc:
                    raise InvalidRequestError(f"The multipart body is malformed ({exc}).") from exc
                if len(parts.pending) >= FLUSH_BYTES:
                    written = await _flush(target, parts.pending, written, limit)
            parser.finalize()
            await _flush(target, parts.pending, written, limit)
        if not parts.found:
            raise InvalidRequestError(f"The upload has no field {name!r}.", param=name)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SpooledUpload(parts.filename, path)


def _callbacks(parts: _Parts) -> Any:
    return {
        name: getattr(parts, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }


async def _flush(target: IO[bytes], pending: bytearray, written: int, limit: int) -> int:
    """Write what the parser gathered (in a worker thread); the bytes written so far."""
    written += len(pending)
    if written > limit:
        raise PayloadTooLargeError(
            f"The export is larger than the limit of {limit} bytes (CAUSERIE_MAX_IMPORT_BYTES)."
        )
    data = bytes(pending)
    pending.clear()
    if data:
        await to_thread.run_sync(target.write, data)
    return written
