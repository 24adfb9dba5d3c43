"""The items of a JSON list with a cap on the size of each, so that one huge conversation
never runs the server out of memory: an item past the cap is refused (an ``Oversized`` in its
place) without being built, and the items after it are read as usual.

``ijson`` reads the file through a ``CountingStream``, which counts the bytes read since the
last item came out. When the parser asks for more while the count is past the cap, the read
raises instead: the parser (and the part of the item it had built) is dropped, ``skip_item``
finds where the item ends with a scan that never holds more than one read, and a fresh parser
takes the list up from there. To know where it stands when that happens, the stream follows
the nesting (depth, inside a string or not) of everything it handed out, at C speed: escapes
removed, the text split on quotes, brackets counted outside them. A giant string is never
buffered whole, by the parser or by the scan."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson  # type: ignore[import-untyped]

from causerie.errors import ImportFormatError

MAX_ITEM_BYTES = 256 * 1024**2  # the default cap on one item (one conversation)
READ_SIZE = 64 * 1024
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_TOKEN = re.compile(rb'["\[\]{},]')
_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)


@dataclass(frozen=True, slots=True)
class Oversized:
    """In place of an item whose JSON ran past ``cap`` bytes: it was not read."""

    cap: int

    @property
    def reason(self) -> str:
        return f"larger than {self.cap / 1024**2:g} MiB"


class _TooLarge(Exception):
    """Raised through the parser when the item it is building runs past the cap."""


@dataclass(slots=True)
class Nesting:
    """Where the bytes read so far end: how deep in brackets, and whether inside a string
    (``escaped``: just after a backslash in one)."""

    depth: int = 0
    in_string: bool = False
    escaped: bool = False

    def feed(self, chunk: bytes) -> None:
        if self.escaped and chunk:
            chunk, self.escaped = chunk[1:], False
        body = _ESCAPE.sub(b"", chunk)
        if body.endswith(b"\\"):  # an escape cut in two by the read
            body, self.escaped = body[:-1], True
        parts = body.split(b'"')
        outside = b"".join(parts[1::2] if self.in_string else parts[0::2])
        if len(parts) % 2 == 0:
            self.in_string = not self.in_string
        opened = outside.count(b"[") + outside.count(b"{")
        self.depth += opened - outside.count(b"]") - outside.count(b"}")


class CountingStream:
    """``file`` as the parser reads it (``head`` first), refusing to read on once the bytes
    read since ``reset`` pass ``cap`` inside an item of the list."""

    def __init__(self, file: IO[bytes], cap: int, head: bytes = b"") -> None:
        self._file = file
        self._cap = cap
        self._head = head
        self.nesting = Nesting()
        self.count = 0

    def reset(self) -> None:
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if self.count > self._cap and self.nesting.depth >= 1:
            raise _TooLarge
        if self._head:
            size = len(self._head) if size < 0 else size
            data, self._head = self._head[:size], self._head[size:]
        else:
            data = self._file.read(size)
        self.nesting.feed(data)
        self.count += len(data)
        return data


def capped_items(file: IO[bytes], cap: int, name: str) -> Iterator[Any]:
    """The items of the JSON list ``file`` holds (read from where it stands, just before the
    ``[``), each one, or ``Oversized(cap)`` for one larger than ``cap`` bytes (counted to
    within one read)."""
    stream = CountingStream(file, cap)
    while True:
        try:
            for item in ijson.items(stream, "item", use_float=True, buf_size=READ_SIZE):
                stream.reset()
                yield item
            return
        except _TooLarge:
            rest = skip_item(file, stream.nesting, name)
        yield Oversized(cap)
        stream = CountingStream(file, cap, b"[" + rest)


def skip_item(file: IO[bytes], at: Nesting, name: str) -> bytes:
    """Read ``file`` on from ``at`` (inside an item of the top list) to the end of that item;
    return what follows it: the next items (the comma dropped) or the list's ``]``."""
    depth, in_string, escaped = at.depth, at.in_string, at.escaped
    while chunk := file.read(READ_SIZE):
        pos = 1 if escaped else 0
        escaped = False
        while pos < len(chunk):
            if in_string:
                pos = _STRING_BODY.match(chunk, pos).end()  # type: ignore[union-attr]
                if pos >= len(chunk):
                    break
                if chunk[pos] == 0x5C:  # a backslash, the last byte: its escape comes next
                    escaped, pos = True, len(chunk)
                    break
                in_string, pos = False, pos + 1
                continue
            token = _TOKEN.search(chunk, pos)
            if token is None:
                break
            mark, pos = chunk[token.start()], token.end()
            if mark == 0x22:  # "
                in_string = True
            elif mark in (0x5B, 0x7B):  # [ {
                depth += 1
            elif depth > 1:
                depth -= 1 if mark != 0x2C else 0
            elif mark == 0x2C:  # , after the item: the next one follows
                return chunk[pos:]
            else:  # ] closing the list
                return chunk[pos - 1 :]
    raise ImportFormatError(f"{name} is not valid JSON (truncated inside a conversation).")
