"""Files a ChatGPT export refers to, found in its zip.

Messages point at files by id (``file-service://file-AbC…``, ``sediment://file_00…``). The
legacy layout stores them as ``file-<id>-<original name>`` (at the root, in
``dalle-generations/`` or ``user-<id>/``), the 2026 layout as ``<file-id>.dat`` with the
original names in ``conversation_asset_file_names.json``. Both are indexed once, by id."""

from __future__ import annotations

import json
import mimetypes
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from causerie.archive.tree import ImportedAttachment
from causerie.archive.values import NAME_MAX, clip, number_of
from causerie.archive.zipsafe import SafeZip

ASSET_NAMES = "conversation_asset_file_names.json"
_FILE_ID = re.compile(r"^(file[-_][A-Za-z0-9]+)")
_NAMES_MAX_BYTES = 64 * 1024**2
_MAGIC = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
    (b"%PDF", "application/pdf"),
)


@dataclass(frozen=True, slots=True)
class AssetRef:
    """A message's pointer to a file: its id, what kind it is (``image``, ``audio`` or
    ``file``), and the sizes the message gave."""

    asset_id: str
    kind: str = "file"
    size: int | None = None
    width: int | None = None
    height: int | None = None


def pointer_id(pointer: Any) -> str | None:
    """``file-service://file-AbC`` or ``sediment://file_00ab#x`` → the file id."""
    if not isinstance(pointer, str) or not pointer:
        return None
    tail = pointer.split("://", 1)[-1].rsplit("/", 1)[-1]
    return clip(tail.split("#", 1)[0].split("?", 1)[0], NAME_MAX)


class AssetIndex:
    """Asset ids to the zip members holding them (none for a bare ``conversations.json``)."""

    def __init__(self, archive: SafeZip | None = None) -> None:
        self._zip = archive
        self._members: dict[str, str] = {}
        self._names: dict[str, str] = {}
        if archive is None:
            return
        for name in archive.names:
            base = posixpath.basename(name)
            if base == ASSET_NAMES:
                self._names.update(_asset_names(archive, name))
                continue
            match = _FILE_ID.match(base)
            asset_id = base[:-4] if base.endswith(".dat") else match.group(1) if match else None
            if asset_id:
                self._members.setdefault(asset_id, name)

    def __len__(self) -> int:
        return len(self._members)

    def attachment(self, ref: AssetRef, described: Mapping[str, Any] | None) -> ImportedAttachment:
        """The attachment ``ref`` stands for: its bytes when the zip has them, its name and
        type from the message's own description, the asset names file, or the member name."""
        described = described or {}
        member = self._members.get(ref.asset_id)
        name = (
            clip(described.get("name"), NAME_MAX)
            or clip(self._names.get(f"{ref.asset_id}.dat"), NAME_MAX)
            or _original_name(ref.asset_id, member)
        )
        mime = clip(described.get("mime_type"), NAME_MAX) or mimetypes.guess_type(name)[0]
        if mime is None and member is not None and self._zip is not None:
            mime = _sniff(self._zip, member)
        if mime is None and ref.kind == "image":
            mime = "image/png"
        size = ref.size or number_of(described.get("size"))
        if size is None and member is not None and self._zip is not None:
            size = self._zip.size(member)
        return ImportedAttachment(
            asset_id=ref.asset_id,
            name=name,
            mime_type=mime,
            size=size,
            width=ref.width or number_of(described.get("width")),
            height=ref.height or number_of(described.get("height")),
            location=member,
            opener=self._zip.opener(member) if member is not None and self._zip else None,
        )


def _original_name(asset_id: str, member: str | None) -> str:
    if member is None:
        return asset_id
    base = posixpath.basename(member)
    rest = base[len(asset_id) :].lstrip("-_")
    return rest if rest and not base.endswith(".dat") else base


def _asset_names(archive: SafeZip, name: str) -> dict[str, str]:
    if archive.size(name) > _NAMES_MAX_BYTES:
        return {}
    try:
        names = json.loads(archive.read(name))
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(names, dict):
        return {}
    return {str(key): value for key, value in names.items() if isinstance(value, str)}


def _sniff(archive: SafeZip, member: str) -> str | None:
    with archive.reading(member) as stream:
        head = stream.read(16)
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    return None
