"""Causerie's own archive as a zip, written as a stream: what ``docs/archive.md`` describes
and ``causerie-archive.schema.json`` (beside this module) checks.

    causerie-archive.json          the manifest: format, version, accounts (preferences,
                                   projects, their conversations' member names)
    conversations/<id>.json        one conversation, whole (every branch)
    attachments/<id>               the bytes of a file a message carried

Members are written one at a time and each one's compressed bytes handed out at once
(``ArchiveWriter``), so a large account is never held in memory, and the zip can go straight
into an HTTP response. The manifest comes last: only then is every member name known.
"""

from __future__ import annotations

import json
import zipfile
from importlib import resources
from typing import Any

__all__ = [
    "ATTACHMENTS",
    "CONVERSATIONS",
    "FORMAT",
    "MANIFEST",
    "SCHEMA_FILE",
    "VERSION",
    "ArchiveWriter",
    "attachment_member",
    "conversation_member",
    "schema",
]

MANIFEST = "causerie-archive.json"
FORMAT = "causerie.archive"
VERSION = 1
CONVERSATIONS = "conversations"
ATTACHMENTS = "attachments"
SCHEMA_FILE = "causerie-archive.schema.json"
# Members carry this date, not the export's time: two exports of the same data are the same
# bytes but for the manifest's ``exported_at``.
_MEMBER_DATE = (1980, 1, 1, 0, 0, 0)


def conversation_member(conversation_id: str) -> str:
    return f"{CONVERSATIONS}/{conversation_id}.json"


def attachment_member(attachment_id: str) -> str:
    return f"{ATTACHMENTS}/{attachment_id}"


def schema() -> dict[str, Any]:
    """The JSON Schema of the manifest; ``$defs.conversation`` is that of a conversation."""
    text = resources.files("causerie.archive").joinpath(SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


class _Sink:
    """Where the zip writes: what it wrote since the last ``take``. Not seekable, so
    ``zipfile`` writes each member's sizes after its data."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class ArchiveWriter:
    """Writes members one at a time; each call returns the zip's bytes written meanwhile.
    ``finish`` writes the manifest and the zip's directory."""

    def __init__(self) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_DEFLATED)

    def add_json(self, name: str, document: Any) -> bytes:
        text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
        return self.add_bytes(name, text.encode("utf-8"))

    def add_bytes(self, name: str, data: bytes) -> bytes:
        info = zipfile.ZipInfo(name, _MEMBER_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        self._zip.writestr(info, data)
        return self._sink.take()

    def finish(self, manifest: dict[str, Any]) -> bytes:
        last = self.add_json(MANIFEST, manifest)
        self._zip.close()
        return last + self._sink.take()
