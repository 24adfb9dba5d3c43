"""Which export an upload is, told from its content (never its name), and its reader.

* a zip holding ``causerie-archive.json``: Causerie's own archive;
* a zip holding ``conversations.json`` or ``conversations-NNN.json``: a ChatGPT export;
* a JSON list whose items have a ``mapping`` (or ``current_node``): a bare ChatGPT
  ``conversations.json``;
* a JSON list whose items have a ``chat`` (with its ``history``): an Open WebUI export.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

import ijson  # type: ignore[import-untyped]

from causerie.archive.causerie_reader import CauserieArchiveReader
from causerie.archive.causerie_zip import MANIFEST as CAUSERIE_MANIFEST
from causerie.archive.chatgpt_export import (
    is_conversations_file,
    open_chatgpt_json,
    open_chatgpt_zip,
)
from causerie.archive.jsonstream import first_byte, invalid_json
from causerie.archive.openwebui import open_openwebui_json
from causerie.archive.tree import ExportReader
from causerie.archive.zipsafe import SafeZip, Upload, ZipLimits, is_zip, read_head
from causerie.errors import ImportFormatError

CHATGPT_KEYS = frozenset({"mapping", "current_node", "default_model_slug"})
OPENWEBUI_KEYS = frozenset({"chat"})

Detected = Literal["chatgpt-zip", "chatgpt-json", "openwebui", "causerie"]


def open_export(
    upload: Upload, limits: ZipLimits | None = None, *, account: str | None = None
) -> ExportReader:
    """The reader for whatever export ``upload`` holds (a path, or a seekable binary stream
    that stays open while the reader is used). Raises ``ImportFormatError`` with a message for
    the person who uploaded it when it is none Causerie reads. ``account``: which account of
    a Causerie archive of several to read."""
    limits = limits or ZipLimits()
    if is_zip(upload):
        archive = SafeZip(upload, limits)
        try:
            if detect_zip(archive) == "causerie":
                manifest = min(
                    (n for n in archive.names if posixpath.basename(n) == CAUSERIE_MANIFEST),
                    key=lambda name: (name.count("/"), name),
                )
                return CauserieArchiveReader(archive, manifest, account)
            return open_chatgpt_zip(archive)
        except BaseException:
            archive.close()
            raise
    cap = limits.max_conversation_bytes
    if detect_json(upload) == "openwebui":
        return open_openwebui_json(upload, max_item_bytes=cap)
    return open_chatgpt_json(upload, max_item_bytes=cap)


def detect_zip(archive: SafeZip) -> Detected:
    bases = {posixpath.basename(name) for name in archive.names}
    if CAUSERIE_MANIFEST in bases:
        return "causerie"
    if any(is_conversations_file(name) for name in archive.names):
        return "chatgpt-zip"
    raise ImportFormatError(
        "This zip is not an export Causerie reads: it holds no conversations.json "
        "(ChatGPT) or causerie-archive.json (Causerie)."
    )


def detect_json(upload: Upload) -> Detected:
    """Tell a bare JSON export by the keys of its first item."""
    if not read_head(upload, 1):
        raise ImportFormatError("The uploaded file is empty.")
    with _rewound(upload) as file:
        head = first_byte(file)
    if head != b"[":
        raise ImportFormatError(
            "The uploaded file is neither a zip nor a JSON list of conversations "
            "(ChatGPT's conversations.json, or an Open WebUI chat export)."
        )
    with _rewound(upload) as file:
        keys = _first_item_keys(file)
    if keys is None:
        raise ImportFormatError("The uploaded JSON list is empty: there is nothing to import.")
    if keys & CHATGPT_KEYS:
        return "chatgpt-json"
    if keys & OPENWEBUI_KEYS:
        return "openwebui"
    raise ImportFormatError(
        "The uploaded JSON list is not in a format Causerie reads: its items have neither "
        "a ChatGPT 'mapping' nor an Open WebUI 'chat'."
    )


def _first_item_keys(file: IO[bytes]) -> set[str] | None:
    """The keys of the list's first item (an empty set for an item that is not an object);
    None for an empty list. Stops as soon as a key tells the format."""
    keys: set[str] = set()
    try:
        for prefix, event, value in ijson.parse(file):
            if prefix == "" and event == "end_array":
                return None
            if prefix == "item" and event == "map_key":
                keys.add(value)
                if value in CHATGPT_KEYS or value in OPENWEBUI_KEYS:
                    return keys
            elif prefix == "item" and event != "start_map":
                return keys  # the item ended, or was not an object
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise invalid_json("The uploaded file", exc) from exc
    return keys


@contextmanager
def _rewound(upload: Upload) -> Iterator[IO[bytes]]:
    """The upload from its start: a path opened (and closed after), a stream rewound."""
    if isinstance(upload, str | Path):
        with open(upload, "rb") as file:
            yield file
        return
    position = upload.tell()
    upload.seek(0)
    try:
        yield upload
    finally:
        upload.seek(position)
