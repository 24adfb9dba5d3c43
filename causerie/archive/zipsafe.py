"""An uploaded zip, read in place and never extracted: every member name is checked before
anything is read (no ``..``, no absolute or drive paths, no backslashes, no duplicates), and
the sizes the archive declares are held to limits, so a zip bomb is refused before a byte of
it is inflated. ``zipfile`` never inflates a member past its declared size (a member that lies
fails its CRC check), which is what makes the declared sizes safe to trust."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from causerie.archive.jsoncap import MAX_ITEM_BYTES
from causerie.errors import ImportFormatError

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_DRIVE = re.compile(r"^[A-Za-z]:")

Upload = str | Path | BinaryIO


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """How much an uploaded zip may hold once inflated: ``max_total_bytes`` in all,
    ``max_members`` files, and at most ``max_ratio`` times its compressed size, counted for
    members past ``ratio_floor_bytes`` (small files compress as they like) and for the whole.
    ``max_conversation_bytes`` caps one conversation's JSON: a larger one is skipped unread
    (it holds for a bare JSON upload too)."""

    max_total_bytes: int = 20 * 1024**3
    max_members: int = 200_000
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1024**2
    max_conversation_bytes: int = MAX_ITEM_BYTES


def unsafe_reason(name: str) -> str | None:
    """Why a member name could write outside a folder it was extracted to, or None."""
    if "\\" in name:
        return "a backslash in its name"
    if "\x00" in name:
        return "a NUL byte in its name"
    if name.startswith("/"):
        return "an absolute path"
    if _DRIVE.match(name):
        return "a drive letter"
    if ".." in name.split("/"):
        return "a '..' in its path"
    return None


class SafeZip:
    """A zip checked once, then read member by member. Use as a context manager."""

    def __init__(self, upload: Upload, limits: ZipLimits | None = None) -> None:
        self.limits = limits or ZipLimits()
        self._zip = _open_zip(upload)
        try:
            self._infos = self._checked(self._zip.infolist())
        except BaseException:
            self._zip.close()
            raise

    def _checked(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        limits = self.limits
        files = [info for info in infos if not info.is_dir()]
        if not files:
            raise ImportFormatError("The zip archive is empty.")
        if len(infos) > limits.max_members:
            raise _too_large(f"The zip holds {len(infos)} files; at most {limits.max_members}.")
        checked: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            reason = unsafe_reason(info.filename)
            if reason:
                raise ImportFormatError(f"Refused zip member {info.filename!r}: {reason}.")
            if info.filename in checked:
                raise ImportFormatError(f"The zip holds {info.filename!r} twice.")
            if info.flag_bits & 0x1:
                raise ImportFormatError(f"Zip member {info.filename!r} is encrypted.")
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
                raise _too_large(
                    f"Zip member {info.filename!r} inflates {ratio:.0f} times "
                    f"(at most {limits.max_ratio:.0f}): refused as a zip bomb."
                )
            checked[info.filename] = info
        total = sum(info.file_size for info in files)
        packed = sum(info.compress_size for info in files)
        if total > limits.max_total_bytes:
            raise _too_large(
                f"The zip inflates to {total} bytes; at most {limits.max_total_bytes}."
            )
        if total > limits.ratio_floor_bytes and total / max(packed, 1) > limits.max_ratio:
            raise _too_large("The zip inflates too many times its size: refused as a zip bomb.")
        return checked

    @property
    def names(self) -> list[str]:
        """The files (not folders) in the archive, in its order."""
        return [name for name, info in self._infos.items() if not info.is_dir()]

    def size(self, name: str) -> int:
        return self._infos[name].file_size

    def open(self, name: str) -> IO[bytes]:
        """A member's bytes as a stream, inflated as it is read."""
        try:
            return self._zip.open(self._infos[name])
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise damaged(name, exc) from exc

    def opener(self, name: str) -> Callable[[], IO[bytes]]:
        """Opens the member when called (an attachment's bytes, read only when wanted)."""
        return lambda: self.open(name)

    def read(self, name: str) -> bytes:
        with self.reading(name) as stream:
            return stream.read()

    @contextmanager
    def reading(self, name: str) -> Iterator[IO[bytes]]:
        """``open`` as a context, turning a damaged member into a clear error."""
        with self.open(name) as stream:
            try:
                yield stream
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise damaged(name, exc) from exc

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def damaged(name: str, exc: BaseException) -> ImportFormatError:
    return ImportFormatError(f"Zip member {name!r} is damaged ({exc}).")


def _too_large(message: str) -> ImportFormatError:
    return ImportFormatError(message, code="import_too_large")


def _open_zip(upload: Upload) -> zipfile.ZipFile:
    head = read_head(upload, 4)
    if not head:
        raise ImportFormatError("The uploaded file is empty.")
    try:
        return zipfile.ZipFile(upload)
    except zipfile.BadZipFile as exc:
        if head in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
            raise ImportFormatError(f"The zip archive is truncated or damaged ({exc}).") from exc
        raise ImportFormatError("The uploaded file is not a zip archive.") from exc
    except (OSError, EOFError, ValueError) as exc:
        raise ImportFormatError(f"The zip archive cannot be read ({exc}).") from exc


def read_head(upload: Upload, size: int) -> bytes:
    """The first ``size`` bytes of the upload (from its start, wherever a stream stood),
    leaving a stream where it was."""
    if isinstance(upload, str | Path):
        with open(upload, "rb") as file:
            return file.read(size)
    position = upload.tell()
    try:
        upload.seek(0)
        return upload.read(size)
    finally:
        upload.seek(position)


def is_zip(upload: Upload) -> bool:
    """Whether the upload looks like a zip (its magic number), damaged or not."""
    return read_head(upload, 4) in (ZIP_MAGIC, EMPTY_ZIP_MAGIC)
