"""One conversation larger than the cap (``ZipLimits.max_conversation_bytes``) is skipped
unread, saying why, and the others are imported: a small zip that inflates to one huge
conversation never runs the server out of memory."""

from __future__ import annotations

import io
import json
import random
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest

from causerie.archive import ImportedConversation, Skipped, ZipLimits, jsoncap, open_export
from causerie.archive.causerie_zip import conversation_member
from causerie.archive.jsoncap import Oversized, capped_items
from causerie.chat.import_queue import import_limits
from causerie.config import Settings
from tests.archive.causerie_factory import archive_zip, conversation
from tests.archive.chatgpt_factory import Conversation, bulk_conversations

MIB = 1024**2
CAP = ZipLimits(max_ratio=1_000_000, max_conversation_bytes=MIB)


def huge_conversation(size: int) -> dict[str, Any]:
    """A conversation whose one message is ``size`` bytes of the same letter."""
    c = Conversation("huge", title="Huge")
    c.add("m0", c.root(), "user", "a" * size, at=0)
    return c.build("m0")


def read_all(path: Path, limits: ZipLimits) -> list[Any]:
    with open_export(path, limits) as export:
        return list(export)


def test_an_oversized_conversation_is_skipped_without_being_built(tmp_path: Path) -> None:
    small = list(bulk_conversations(2, messages=4))
    nested = list(bulk_conversations(1, messages=4, seed=1))[0]
    nested["mapping"]["padding"] = [{"x": "y" * 64}] * (2 * MIB // 70)  # deep, not one string
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        items = [small[0], huge_conversation(32 * MIB), nested, small[1]]
        archive.writestr("conversations.json", json.dumps(items))
    del items, nested
    tracemalloc.start()
    try:
        read = read_all(path, CAP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MIB  # never the 32 MiB conversation, nor the 2 MiB nested one
    conversations = [item for item in read if isinstance(item, ImportedConversation)]
    skipped = [item for item in read if isinstance(item, Skipped)]
    assert [c.external_id for c in conversations] == ["bulk-0-000000", "bulk-0-000001"]
    assert [(s.index, s.reason, s.file) for s in skipped] == [
        (1, "larger than 1 MiB", "conversations.json"),
        (2, "larger than 1 MiB", "conversations.json"),
    ]


def test_the_cap_holds_for_a_bare_json_upload(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    small = list(bulk_conversations(1, messages=4))
    path.write_text(json.dumps([huge_conversation(2 * MIB), *small]))
    read = read_all(path, CAP)
    assert isinstance(read[0], Skipped) and read[0].reason == "larger than 1 MiB"
    assert isinstance(read[1], ImportedConversation)
    assert all(isinstance(item, ImportedConversation) for item in read_all(path, ZipLimits()))


def test_an_oversized_member_of_a_causerie_archive_is_skipped(tmp_path: Path) -> None:
    big = conversation("c0", title="x" * 2 * MIB)
    small = conversation("c1")
    path = tmp_path / "archive.zip"
    path.write_bytes(archive_zip([big, small]))
    read = read_all(path, CAP)
    assert isinstance(read[0], Skipped) and read[0].reason == "larger than 1 MiB"
    assert read[0].file == conversation_member("c0")
    assert isinstance(read[1], ImportedConversation) and read[1].external_id == "c1"


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.3:
        length = rng.randint(0, 3000 if rng.random() < 0.1 else 30)
        return "".join(rng.choice('ab\\"\n]}[{,é') for _ in range(length))
    if roll < 0.4:
        return rng.randint(-(10**6), 10**6)
    if roll < 0.7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 8))]
    return {_random_value(rng, 5): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 8))}


@pytest.mark.parametrize("read_size", [7, 64, 1000])
def test_items_after_a_skipped_one_are_read_exactly(
    read_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Escapes, quotes and brackets inside strings, cut anywhere by the reads: every item
    under the cap comes out as it went in, in its place."""
    monkeypatch.setattr(jsoncap, "READ_SIZE", read_size)
    rng = random.Random(read_size)
    for _ in range(12):
        items = [_random_value(rng) for _ in range(rng.randint(0, 30))]
        ascii_only = rng.random() < 0.5
        data = json.dumps(items, ensure_ascii=ascii_only).encode()
        cap = rng.choice([100, 1000, 5000])
        out = list(capped_items(io.BytesIO(data), cap, "t.json"))
        assert len(out) == len(items)
        for got, item in zip(out, items, strict=True):
            if isinstance(got, Oversized):
                size = len(json.dumps(item, ensure_ascii=ascii_only).encode())
                assert size > cap - 2 * read_size
            else:
                assert got == item


def test_the_cap_comes_from_the_settings() -> None:
    settings = Settings(max_import_conversation_mb=3)
    assert import_limits(settings).max_conversation_bytes == 3 * MIB
