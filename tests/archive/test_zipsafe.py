"""Uploaded zips are checked before anything in them is read, and never extracted."""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from pathlib import Path

import pytest

from causerie.archive import ZipLimits, open_export
from causerie.archive.zipsafe import SafeZip, unsafe_reason
from causerie.errors import ImportFormatError, InvalidRequestError
from tests.archive.chatgpt_factory import export_zip, rich_conversation

SMALL = ZipLimits(
    max_total_bytes=4 * 1024**2, max_ratio=50, ratio_floor_bytes=64 * 1024, max_members=20
)


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def refused(upload: io.BytesIO | Path, limits: ZipLimits | None = None) -> ImportFormatError:
    with pytest.raises(ImportFormatError) as caught:
        SafeZip(upload, limits)
    return caught.value


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.txt", "'..'"),
        ("a/../../evil.txt", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/evil.txt", "drive"),
        ("c:evil.txt", "drive"),
        ("..\\evil.txt", "backslash"),
        ("a\\b.txt", "backslash"),
    ],
)
def test_members_that_could_escape_are_refused(name: str, reason: str) -> None:
    assert reason in (unsafe_reason(name) or "")
    error = refused(zip_of({"conversations.json": b"[]", name: b"x"}))
    assert reason in error.message and repr(name) in error.message
    assert error.code == "invalid_import" and error.status == 400
    assert isinstance(error, InvalidRequestError)


def test_ordinary_names_pass() -> None:
    for name in (
        "conversations.json",
        "dalle-generations/file-a-b.webp",
        "a..b/c.txt",
        "x/.hidden",
    ):
        assert unsafe_reason(name) is None


def test_nothing_is_written_to_disk_while_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = export_zip([rich_conversation()], assets={"file-IMG1": b"\x89PNG"})
    with open_export(io.BytesIO(data)) as export:
        assert len(list(export)) == 1
    assert os.listdir(tmp_path) == []


def test_a_zip_bomb_by_ratio_is_refused_before_inflating() -> None:
    bomb = zip_of({"conversations.json": b"[]", "zeros.bin": b"\0" * (1024**2)})
    error = refused(bomb, SMALL)
    assert "zip bomb" in error.message and "zeros.bin" in error.message
    assert error.code == "import_too_large"


def test_a_zip_bomb_by_total_size_is_refused() -> None:
    members = {f"part-{index}.bin": os.urandom(1024**2) for index in range(5)}
    error = refused(zip_of(members, zipfile.ZIP_STORED), SMALL)
    assert "inflates to" in error.message and error.code == "import_too_large"


def test_too_many_members_are_refused() -> None:
    error = refused(zip_of({f"f{index}.txt": b"x" for index in range(21)}), SMALL)
    assert "21 files" in error.message


def test_small_files_may_compress_well() -> None:
    with SafeZip(zip_of({"a.json": b" " * 60_000}), SMALL) as archive:
        assert archive.read("a.json") == b" " * 60_000


def test_not_a_zip_empty_truncated_and_empty_archive() -> None:
    assert "not a zip" in refused(io.BytesIO(b"hello, world")).message
    assert "empty" in refused(io.BytesIO(b"")).message
    whole = export_zip([rich_conversation()])
    assert "truncated or damaged" in refused(io.BytesIO(whole[: len(whole) // 2])).message
    assert "empty" in refused(zip_of({})).message
    assert "empty" in refused(zip_of({"folder/": b""})).message


def test_a_member_named_twice_is_refused() -> None:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it writes
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("conversations.json", b"[]")
            archive.writestr("conversations.json", b"[1]")
    buffer.seek(0)
    assert "twice" in refused(buffer).message


def test_a_damaged_member_is_a_clear_error_when_read() -> None:
    data = bytearray(export_zip([rich_conversation()] * 3))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("conversations.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for offset in range(start + 10, start + 40):
        data[offset] ^= 0xFF
    with pytest.raises(ImportFormatError, match="conversations.json"):
        with open_export(io.BytesIO(bytes(data))) as export:
            list(export)


def test_a_path_works_as_well_as_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "export.bin"
    path.write_bytes(export_zip([rich_conversation()]))
    with open_export(path) as export:
        assert export.total == 1 and len(list(export)) == 1
