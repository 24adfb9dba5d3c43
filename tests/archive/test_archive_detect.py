"""The format is told from the content, whatever the file is called; bad input is refused
with a message that says what is wrong."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from causerie.archive import ImportedConversation, open_export
from causerie.archive.detect import detect_json
from causerie.errors import ImportFormatError
from tests.archive.chatgpt_factory import export_zip, rich_conversation
from tests.archive.openwebui_factory import openwebui_chat


def refusal(data: bytes) -> ImportFormatError:
    with pytest.raises(ImportFormatError) as caught:
        with open_export(io.BytesIO(data)) as export:
            list(export)
    return caught.value


@pytest.mark.parametrize("filename", ["export.zip", "conversations.json", "photo.png"])
def test_the_name_does_not_matter(tmp_path: Path, filename: str) -> None:
    for data, source in [
        (export_zip([rich_conversation()]), "chatgpt"),
        (json.dumps([rich_conversation()]).encode(), "chatgpt"),
        (json.dumps([openwebui_chat()]).encode(), "openwebui"),
    ]:
        path = tmp_path / filename
        path.write_bytes(data)
        with open_export(path) as export:
            assert export.source == source
            assert [type(item) for item in export] == [ImportedConversation]


def test_keys_after_a_long_title_still_tell_the_format() -> None:
    item = {"title": "t" * 100_000, **rich_conversation()}
    assert detect_json(io.BytesIO(json.dumps([item]).encode())) == "chatgpt-json"


def test_a_causerie_archive_is_recognised_by_its_manifest() -> None:
    data = export_zip([], extra={"causerie-archive.json": b"{}"})
    error = refusal(data)
    assert error.code == "invalid_import" and "not a Causerie archive's manifest" in error.message
    newer = json.dumps({"format": "causerie.archive", "version": 99, "accounts": []})
    error = refusal(export_zip([], extra={"causerie-archive.json": newer.encode()}))
    assert "newer than this Causerie reads" in error.message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"   \n ", "neither a zip nor"),
        (b"hello", "neither a zip nor"),
        (b"{}", "neither a zip nor"),
        (b"[]", "empty"),
        (b'[{"name": "x"}]', "not in a format"),
        (b"[1, 2]", "not in a format"),
        (b'[{"mapping": {}, "title": "x"', "not valid JSON"),
        (b'[{"mapping": {"a": }}]', "not valid JSON"),
        (b'[{"chat": {}}, ', "not valid JSON"),
        (b'[{"title": "\xff\xfe", "mapping": {}}]', "invalid bytes in UTF8"),
    ],
)
def test_bare_files_that_are_not_exports(data: bytes, words: str) -> None:
    assert words in refusal(data).message


def test_a_zip_without_conversations_is_refused() -> None:
    data = export_zip([], layout="none", extra={"notes.txt": b"hello"})
    assert "holds no conversations.json" in refusal(data).message


def test_truncated_json_inside_a_zip_is_refused_before_any_conversation() -> None:
    whole = json.dumps([rich_conversation(f"c{index}") for index in range(5)])
    data = export_zip([], extra={"conversations-000.json": whole[:-300].encode()})
    assert "not valid JSON" in refusal(data).message


def test_a_shard_holding_an_object_is_the_wrong_shape() -> None:
    data = export_zip([], layout="sharded", extra={"conversations-001.json": b'{"a": 1}'})
    assert "one JSON object where a list was expected" in refusal(data).message


def test_a_sharded_export_says_which_shards_its_manifest_lists_but_lacks() -> None:
    listed = ["conversations-000.json", "conversations-001.json"]
    data = export_zip([rich_conversation("c1")], layout="sharded", listed=listed)
    with open_export(io.BytesIO(data)) as export:
        (warning,) = export.warnings
        assert "lacks" in warning and "conversations-001.json" in warning
        assert len(list(export)) == 1
