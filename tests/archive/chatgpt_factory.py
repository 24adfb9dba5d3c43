"""Builds ChatGPT exports the way ChatGPT writes them, for the readers' tests and the import
benchmark: conversations with branches, hidden nodes, tools, reasoning and images
(``rich_conversation``), many plain ones fast (``bulk_conversations``), and the two zip
layouts around them (``export_zip``) or a bare ``conversations.json`` written as a stream."""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0  # 2023-11-14, a float as ChatGPT writes its times
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WORDS = (
    "the of and to in is that for it as with was on be by this are or at from have an not "
    "but what all were when we there can been has more if will one so no out do up about "
    "model token branch river stone window garden answer question kettle lantern orbit "
    "harbour violet sketch ledger cobalt meadow puzzle signal summit thread velvet willow"
).split()


class Conversation:
    """One conversation's ``mapping`` built node by node; ``build`` gives the export item."""

    def __init__(self, conversation_id: str, title: str | None = "A conversation", **extra: Any):
        self.item: dict[str, Any] = {
            "title": title,
            "create_time": T0,
            "update_time": T0 + 3600,
            "mapping": {},
            "current_node": None,
            "conversation_id": conversation_id,
            "id": conversation_id,
            "default_model_slug": "gpt-4o",
            "is_archived": False,
            "is_starred": None,
            **extra,
        }
        self.mapping: dict[str, dict[str, Any]] = self.item["mapping"]

    def root(self, node_id: str = "client-created-root") -> str:
        self.mapping[node_id] = {"id": node_id, "message": None, "parent": None, "children": []}
        return node_id

    def add(
        self,
        node_id: str,
        parent: str | None,
        role: str,
        content: Mapping[str, Any] | str,
        *,
        at: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        recipient: str = "all",
        name: str | None = None,
        status: str = "finished_successfully",
        with_metadata: bool = True,
    ) -> str:
        """A node holding a message; ``content`` a text or a content object; ``at`` seconds
        after T0 (None: no create_time, as system and context nodes have)."""
        if isinstance(content, str):
            content = {"content_type": "text", "parts": [content]}
        message: dict[str, Any] = {
            "id": node_id,
            "author": {"role": role, "name": name, "metadata": {}},
            "create_time": None if at is None else T0 + at,
            "update_time": None,
            "content": dict(content),
            "status": status,
            "end_turn": True,
            "weight": 1.0,
            "recipient": recipient,
            "channel": None,
        }
        if with_metadata:
            message["metadata"] = dict(metadata or {})
        self.mapping[node_id] = {
            "id": node_id,
            "message": message,
            "parent": parent,
            "children": [],
        }
        if parent is not None and parent in self.mapping:
            self.mapping[parent]["children"].append(node_id)
        return node_id

    def build(self, current: str | None, *, children: bool = True) -> dict[str, Any]:
        """The export item; ``children=False`` drops every children list (newer exports)."""
        item = json.loads(json.dumps(self.item))
        item["current_node"] = current
        if not children:
            for node in item["mapping"].values():
                node.pop("children", None)
        return item


def image_part(asset_id: str, *, sediment: bool = False, size: int = len(PNG)) -> dict[str, Any]:
    scheme = "sediment://" if sediment else "file-service://"
    return {
        "content_type": "image_asset_pointer",
        "asset_pointer": scheme + asset_id,
        "size_bytes": size,
        "width": 64,
        "height": 32,
        "fovea": None,
        "metadata": {"dalle": None, "sanitized": True},
    }


def rich_conversation(
    conversation_id: str = "conv-rich", *, children: bool = True
) -> dict[str, Any]:
    """A conversation with everything a reader must handle. Its tree (ids):

    client-created-root → sys (hidden system) → ctx (custom instructions, hidden)
      → u1 (user: two text parts + image file-IMG1 present + file-GONE missing)
         ├─ a1 (assistant, first answer, gpt-4o)
         └─ a1b (regenerated answer, model o3) → u2 (user) → th (thoughts) → rc (recap)
              → code (python call) → out (execution output) → a2 (reply with a citation)
      → u1e (edited first message, sibling of u1) → a3 (answer, leaf)

    ``current_node`` is a2; a3 is the newest leaf."""
    c = Conversation(conversation_id, title="Rich conversation")
    root = c.root()
    c.add(
        "sys",
        root,
        "system",
        {"content_type": "text", "parts": [""]},
        metadata={"is_visually_hidden_from_conversation": True},
    )
    c.add(
        "ctx",
        "sys",
        "user",
        {
            "content_type": "user_editable_context",
            "user_profile": "I live in Lyon.",
            "user_instructions": "Answer briefly.",
        },
        metadata={"is_visually_hidden_from_conversation": True, "is_user_system_message": True},
    )
    c.add(
        "u1",
        "ctx",
        "user",
        {
            "content_type": "multimodal_text",
            "parts": [
                image_part("file-IMG1"),
                "What is in this picture?",
                "And this one?",
                image_part("file-GONE"),
            ],
        },
        at=10,
        metadata={
            "attachments": [
                {"id": "file-IMG1", "name": "cat.png", "mime_type": "image/png", "size": len(PNG)}
            ]
        },
    )
    c.add("a1", "u1", "assistant", "A cat.", at=20, metadata={"model_slug": "gpt-4o"})
    c.add("a1b", "u1", "assistant", "A cat on a mat.", at=30, metadata={"model_slug": "o3"})
    c.add("u2", "a1b", "user", "Plot y = x squared.", at=40)
    c.add(
        "th",
        "u2",
        "assistant",
        {
            "content_type": "thoughts",
            "thoughts": [{"summary": "Planning", "content": "Use matplotlib.", "finished": True}],
            "source_analysis_msg_id": "x",
        },
        at=41,
    )
    c.add(
        "rc",
        "th",
        "assistant",
        {"content_type": "reasoning_recap", "content": "Thought for 3s"},
        at=42,
    )
    c.add(
        "code",
        "rc",
        "assistant",
        {
            "content_type": "code",
            "language": "python",
            "text": "print(2 ** 2)",
            "response_format_name": None,
        },
        at=43,
        recipient="python",
        metadata={"model_slug": "o3"},
    )
    c.add(
        "out",
        "code",
        "tool",
        {"content_type": "execution_output", "text": "4"},
        at=44,
        name="python",
        metadata={"aggregate_result": {"status": "success"}},
    )
    cited = "Squares grow fast \ue200cite\ue202turn0search0\ue201."
    c.add(
        "a2",
        "out",
        "assistant",
        cited,
        at=45,
        metadata={
            "model_slug": "o3",
            "content_references": [
                {
                    "matched_text": "\ue200cite\ue202turn0search0\ue201",
                    "alt": "([Wiki](https://example.org/sq))",
                    "type": "grouped_webpages",
                }
            ],
        },
    )
    c.add("u1e", "ctx", "user", "What is in this photo?", at=50)
    c.add("a3", "u1e", "assistant", "A dog.", at=60, with_metadata=False)
    return c.build("a2", children=children)


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def bulk_conversations(
    count: int, messages: int = 50, *, seed: int = 0, words: int = 30
) -> Iterator[dict[str, Any]]:
    """``count`` conversations of ``messages`` messages each (alternating user and
    assistant under a hidden root and system node, one regenerated reply in each), made fast
    enough for the 1,000 × 50 benchmark."""
    rng = random.Random(seed)
    for index in range(count):
        c = Conversation(f"bulk-{seed}-{index:06d}", title=sentence(rng, 4))
        c.item["create_time"] = T0 + index * 86400
        c.item["update_time"] = T0 + index * 86400 + messages * 60
        parent = c.add("sys", c.root(), "system", {"content_type": "text", "parts": [""]})
        start = T0 + index * 86400
        for turn in range(messages - 1):
            role = "user" if turn % 2 == 0 else "assistant"
            node = c.add(f"m{turn}", parent, role, sentence(rng, words))
            message = c.mapping[node]["message"]
            message["create_time"] = start + turn * 60
            if role == "assistant":
                message["metadata"] = {"model_slug": "gpt-4o"}
            parent = node
        c.add("regen", f"m{messages - 3}", "assistant", sentence(rng, words))
        c.mapping["regen"]["message"]["create_time"] = start + messages * 60
        c.item["current_node"] = parent
        yield c.item


def write_conversations_json(path: Path, conversations: Iterable[Mapping[str, Any]]) -> int:
    """Writes a conversations.json one item at a time (never the whole list in memory);
    returns its size in bytes."""
    with path.open("w", encoding="utf-8") as file:
        file.write("[")
        for index, item in enumerate(conversations):
            file.write(", " if index else "")
            file.write(json.dumps(item, ensure_ascii=False))
        file.write("]")
    return path.stat().st_size


def export_zip(
    conversations: list[Mapping[str, Any]],
    *,
    layout: str = "legacy",
    assets: Mapping[str, bytes] | None = None,
    shard_size: int = 100,
    extra: Mapping[str, bytes] | None = None,
    listed: list[str] | None = None,
) -> bytes:
    """A ChatGPT export zip. ``layout``: ``legacy`` (one conversations.json, assets as
    ``<id>-<name>``), ``sharded`` (conversations-NNN.json, export_manifest.json listing them,
    or ``listed``; assets as ``<id>.dat`` named in conversation_asset_file_names.json), or
    ``none`` (no conversations file at all). ``assets``: id → bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("user.json", json.dumps({"id": "user-1", "email": "a@example.org"}))
        archive.writestr("chat.html", "<html></html>")
        if layout == "none":
            pass
        elif layout == "legacy":
            archive.writestr("conversations.json", json.dumps(conversations))
            for asset_id, data in (assets or {}).items():
                archive.writestr(f"{asset_id}-picture.png", data)
        else:
            shards = [
                conversations[start : start + shard_size]
                for start in range(0, max(len(conversations), 1), shard_size)
            ]
            names = [f"conversations-{index:03d}.json" for index in range(len(shards))]
            for name, shard in zip(names, shards, strict=True):
                archive.writestr(name, json.dumps(shard))
            archive.writestr("export_manifest.json", json.dumps(manifest(listed or names)))
            archive.writestr(
                "conversation_asset_file_names.json",
                json.dumps(
                    {f"{asset_id}.dat": f"{asset_id}-original.png" for asset_id in assets or {}}
                ),
            )
            for asset_id, data in (assets or {}).items():
                archive.writestr(f"{asset_id}.dat", data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def manifest(shards: list[str]) -> dict[str, Any]:
    return {
        "version": 1,
        "manifest_file": "export_manifest.json",
        "logical_files": {"conversations.json": {"files": shards, "sharded": True}},
    }
