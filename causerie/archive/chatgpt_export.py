"""A ChatGPT *Export data* archive, read as a stream of conversations.

Layouts read: the legacy zip (one ``conversations.json``), the 2026 sharded zip
(``conversations-000.json``, ``-001.json``… listed by ``export_manifest.json``), and a bare
``conversations.json``. Shards are merged by conversation id, the copy updated last kept. One
conversation that cannot be read becomes a ``Skipped`` item; the others are read."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, BinaryIO

from causerie.archive.chatgpt import conversation_key, read_conversation
from causerie.archive.chatgpt_assets import AssetIndex
from causerie.archive.jsoncap import MAX_ITEM_BYTES
from causerie.archive.jsonstream import JsonList, upload_list
from causerie.archive.reader import ListReader
from causerie.archive.zipsafe import SafeZip
from causerie.errors import ImportFormatError

LEGACY = "conversations.json"
MANIFEST = "export_manifest.json"
SHARD = re.compile(r"^conversations-(\d+)\.json$")
_MANIFEST_MAX_BYTES = 16 * 1024**2


def is_conversations_file(name: str) -> bool:
    base = posixpath.basename(name)
    return base == LEGACY or SHARD.match(base) is not None


def open_chatgpt_zip(archive: SafeZip) -> ListReader:
    """The reader of a ChatGPT export zip (either layout); it closes ``archive`` when closed."""
    names = [name for name in archive.names if is_conversations_file(name)]
    names.sort(key=_file_order)
    warnings = _missing_shards(archive, names)
    files = [JsonList(name, _member(archive, name)) for name in names]
    assets = AssetIndex(archive)
    reader = ListReader(
        "chatgpt",
        files,
        conversation_key,
        lambda item: read_conversation(item, assets),
        warnings,
        archive.close,
        archive.limits.max_conversation_bytes,
    )
    if reader.total == 0:
        reader.close()
        listed = ", ".join(names) if names else "conversations.json"
        raise ImportFormatError(
            f"The export holds no conversation ({listed}: an empty list): there is nothing "
            "to import."
        )
    return reader


def open_chatgpt_json(
    upload: str | Path | BinaryIO, name: str = LEGACY, max_item_bytes: int = MAX_ITEM_BYTES
) -> ListReader:
    """The reader of a bare ``conversations.json`` (no files come with it)."""
    assets = AssetIndex()
    return ListReader(
        "chatgpt",
        [upload_list(name, upload)],
        conversation_key,
        lambda item: read_conversation(item, assets),
        max_item_bytes=max_item_bytes,
    )


def _member(archive: SafeZip, name: str) -> Callable[[], AbstractContextManager[IO[bytes]]]:
    return lambda: archive.reading(name)


def _file_order(name: str) -> tuple[str, int, str]:
    """Folder, then the legacy file before the shards, shards by number."""
    base = posixpath.basename(name)
    match = SHARD.match(base)
    return posixpath.dirname(name), int(match.group(1)) + 1 if match else 0, base


def _missing_shards(archive: SafeZip, present: list[str]) -> list[str]:
    """Warnings for shards ``export_manifest.json`` lists that the zip does not hold."""
    manifests = [name for name in archive.names if posixpath.basename(name) == MANIFEST]
    have = {posixpath.basename(name) for name in present}
    warnings: list[str] = []
    for manifest in manifests:
        if archive.size(manifest) > _MANIFEST_MAX_BYTES:
            continue
        try:
            listed = _listed_shards(json.loads(archive.read(manifest)))
        except (ValueError, UnicodeDecodeError):
            warnings.append(f"{manifest} is not valid JSON; the shards were found by name.")
            continue
        missing = sorted(name for name in listed if posixpath.basename(name) not in have)
        if missing:
            warnings.append(
                f"{manifest} lists {len(missing)} conversation files the zip lacks: "
                + ", ".join(missing[:10])
                + (" …" if len(missing) > 10 else "")
            )
    return warnings


def _listed_shards(manifest: Any) -> list[str]:
    logical = manifest.get("logical_files") if isinstance(manifest, Mapping) else None
    entry = logical.get(LEGACY) if isinstance(logical, Mapping) else None
    files = entry.get("files") if isinstance(entry, Mapping) else None
    return [name for name in files if isinstance(name, str)] if isinstance(files, list) else []
