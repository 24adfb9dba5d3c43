"""JSON lists read as streams, one item in memory at a time (``ijson``), in two passes.

The first pass (``scan``) reads every file through: it proves the JSON whole before anything
is imported (a truncated file is refused, not half imported), counts the items for a progress
bar, and picks one item per id when the same conversation comes twice (in two shards of an
export, say): the one updated last. The second pass (``stream``) yields the picked items.
An item larger than the cap (``MAX_ITEM_BYTES`` unless told) comes as an ``Oversized``,
never built (``jsoncap``)."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import ijson  # type: ignore[import-untyped]

from causerie.archive.jsoncap import MAX_ITEM_BYTES, capped_items
from causerie.errors import ImportFormatError

_WHITESPACE = b" \t\r\n"

Key = Callable[[Any], tuple[str | None, float]]
"""An item's identity and update time: items with the same id are one conversation."""


@dataclass(frozen=True, slots=True)
class JsonList:
    """A file holding one JSON list: its name (for messages) and how to open it afresh."""

    name: str
    opener: Callable[[], AbstractContextManager[IO[bytes]]]


def upload_list(name: str, upload: str | Path | BinaryIO) -> JsonList:
    """A JSON list in an uploaded file: a path, opened for each pass, or a seekable stream,
    read from its start each pass and left open (its owner closes it)."""
    if isinstance(upload, str | Path):
        path = Path(upload)
        return JsonList(name, lambda: path.open("rb"))

    @contextmanager
    def rewound() -> Iterator[IO[bytes]]:
        upload.seek(0)
        yield upload

    return JsonList(name, rewound)


@dataclass(frozen=True, slots=True)
class Picked:
    """What the first pass found: the items to read, by (file, index), and how many items
    were dropped as older copies of another."""

    items: frozenset[tuple[int, int]]
    duplicates: int

    @property
    def total(self) -> int:
        return len(self.items)


def scan(files: Sequence[JsonList], key: Key, cap: int = MAX_ITEM_BYTES) -> Picked:
    """Read every file through; keep per id the item with the latest update time (the later
    file on a tie), and every item without an id (an ``Oversized`` one among them)."""
    best: dict[str, tuple[float, int, int]] = {}
    chosen: set[tuple[int, int]] = set()
    seen = 0
    for file_index, source in enumerate(files):
        for item_index, item in enumerate(items(source, cap)):
            seen += 1
            item_id, updated = key(item)
            if item_id is None:
                chosen.add((file_index, item_index))
                continue
            previous = best.get(item_id)
            if previous is None or updated >= previous[0]:
                best[item_id] = (updated, file_index, item_index)
    chosen.update((file_index, item_index) for _, file_index, item_index in best.values())
    return Picked(frozenset(chosen), seen - len(chosen))


def stream(
    files: Sequence[JsonList], picked: Picked, cap: int = MAX_ITEM_BYTES
) -> Iterator[tuple[int, int, Any]]:
    """The picked items, as (file index, item index, item), in file order."""
    for file_index, source in enumerate(files):
        for item_index, item in enumerate(items(source, cap)):
            if (file_index, item_index) in picked.items:
                yield file_index, item_index, item


def items(source: JsonList, cap: int = MAX_ITEM_BYTES) -> Iterator[Any]:
    """The items of the list in ``source``, one at a time; floats as floats; ``Oversized``
    for one larger than ``cap`` bytes."""
    with source.opener() as file:
        try:
            _expect_list(source.name, file)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ImportFormatError(f"{source.name} is damaged ({exc}).") from exc
    with source.opener() as file:
        try:
            yield from capped_items(file, cap, source.name)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise invalid_json(source.name, exc) from exc
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ImportFormatError(f"{source.name} is damaged ({exc}).") from exc


def invalid_json(name: str, exc: Exception) -> ImportFormatError:
    """A parser's complaint as one readable line (yajl's are bytes, with a snippet below)."""
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    first = str(detail).strip().splitlines()[0] if str(detail).strip() else type(exc).__name__
    return ImportFormatError(f"{name} is not valid JSON (truncated or damaged: {first[:200]}).")


def first_byte(file: IO[bytes]) -> bytes:
    """The first byte that is not white space (b"" for an empty or blank file)."""
    while chunk := file.read(65536):
        stripped = chunk.lstrip(_WHITESPACE)
        if stripped:
            return stripped[:1]
    return b""


def _expect_list(name: str, file: IO[bytes]) -> None:
    head = first_byte(file)
    if head == b"[":
        return
    if head == b"":
        raise ImportFormatError(f"{name} is empty.")
    if head == b"\xef":
        raise ImportFormatError(f"{name} starts with a byte order mark; save it as plain UTF-8.")
    if head == b"{":
        raise ImportFormatError(f"{name} holds one JSON object where a list was expected.")
    raise ImportFormatError(f"{name} is not a JSON list.")
