"""Both ChatGPT zip layouts, shards merged by conversation id, and reading as a stream."""

from __future__ import annotations

import gc
import io
import json
import time
import tracemalloc
from pathlib import Path

from causerie.archive import ImportedConversation, open_export
from tests.archive.chatgpt_factory import (
    bulk_conversations,
    export_zip,
    rich_conversation,
    write_conversations_json,
)


def test_both_layouts_read_the_same_conversations() -> None:
    conversations = list(bulk_conversations(25, 6)) + [rich_conversation()]
    read = {}
    for layout in ("legacy", "sharded"):
        data = export_zip(conversations, layout=layout, shard_size=10)
        with open_export(io.BytesIO(data)) as export:
            assert export.total == 26
            read[layout] = [item for item in export if isinstance(item, ImportedConversation)]
    assert [c.external_id for c in read["legacy"]] == [c.external_id for c in read["sharded"]]
    assert [len(c.nodes) for c in read["legacy"]] == [len(c.nodes) for c in read["sharded"]]


def test_shards_are_merged_by_id_keeping_the_copy_updated_last() -> None:
    old = rich_conversation("same")
    new = rich_conversation("same")
    new["title"] = "Renamed later"
    new["update_time"] = old["update_time"] + 100
    others = list(bulk_conversations(3, 4))
    # the newer copy sits in the first shard, the older one in the last
    data = export_zip([new, *others, old], layout="sharded", shard_size=2)
    with open_export(io.BytesIO(data)) as export:
        items = list(export)
        assert export.total == 4 and any("1 older copies" in w for w in export.warnings)
    titles = [
        c.title for c in items if isinstance(c, ImportedConversation) and c.external_id == "same"
    ]
    assert titles == ["Renamed later"]


def test_a_large_conversations_json_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    size = write_conversations_json(path, bulk_conversations(250, 20, words=400))
    assert size > 10 * 1024**2
    gc.collect()
    tracemalloc.start()
    try:
        nodes = 0
        with open_export(path) as export:
            for item in export:
                assert isinstance(item, ImportedConversation)
                nodes += len(item.nodes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert nodes == 250 * 22  # a root, a system node, 19 messages, a regenerated reply
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte file"


def test_the_benchmark_volume_generates_quickly(tmp_path: Path) -> None:
    started = time.perf_counter()
    size = write_conversations_json(tmp_path / "c.json", bulk_conversations(1000, 50, words=8))
    assert time.perf_counter() - started < 20
    with (tmp_path / "c.json").open("rb") as file:
        assert json.load(file)[999]["conversation_id"] == "bulk-0-000999"
    assert size > 0
