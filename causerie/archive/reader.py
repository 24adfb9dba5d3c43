"""The reader every JSON-list export shares: open (read the files through once, see
``jsonstream``), then yield one conversation per picked item, or a ``Skipped`` record for an
item that cannot be read, so that one bad conversation never costs the others."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from causerie.archive.jsoncap import MAX_ITEM_BYTES, Oversized
from causerie.archive.jsonstream import JsonList, Key, scan, stream
from causerie.archive.tree import (
    ArchivedAccount,
    ImportedConversation,
    ReadItem,
    Skipped,
    SourceFormat,
)
from causerie.archive.values import safe_id, title_of


class Malformed(ValueError):
    """A conversation that cannot be read; the message says why."""


# what reading one conversation may raise when its JSON has a shape nobody expected
MALFORMED = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


class ListReader:
    """An opened export of one or more JSON lists of conversations. ``total`` counts the
    items to come; ``close`` runs ``on_close`` (closing the zip they came from, say). An item
    larger than ``max_item_bytes`` is skipped unread."""

    def __init__(
        self,
        source: SourceFormat,
        files: Sequence[JsonList],
        key: Key,
        read: Callable[[Any], ImportedConversation],
        warnings: Sequence[str] = (),
        on_close: Callable[[], None] | None = None,
        max_item_bytes: int = MAX_ITEM_BYTES,
    ) -> None:
        self.source = source
        self.account: ArchivedAccount | None = None  # only Causerie's archives hold one
        self._files = files
        self._read = read
        self._on_close = on_close
        self._cap = max_item_bytes
        self._picked = scan(files, key, max_item_bytes)
        self.total = self._picked.total
        notes = list(warnings)
        if self._picked.duplicates:
            notes.append(
                f"{self._picked.duplicates} older copies of conversations that came twice "
                "were left out (the copy updated last is read)."
            )
        self.warnings = tuple(notes)

    def __iter__(self) -> Iterator[ReadItem]:
        for file_index, item_index, item in stream(self._files, self._picked, self._cap):
            if isinstance(item, Oversized):
                yield Skipped(item_index, item.reason, file=self._files[file_index].name)
                continue
            try:
                yield self._read(item)
            except MALFORMED as exc:
                yield skipped(item, item_index, self._files[file_index].name, exc)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> ListReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def skipped(item: Any, index: int, file: str, exc: Exception) -> Skipped:
    """The record of an item that could not be read, with what can be told of it."""
    reason = str(exc) if isinstance(exc, Malformed) else f"malformed ({type(exc).__name__}: {exc})"
    if not isinstance(item, Mapping):
        return Skipped(index, reason, file=file)
    external_id = safe_id(item.get("conversation_id")) or safe_id(item.get("id"))
    return Skipped(index, reason, external_id, title_of(item.get("title")), file)
