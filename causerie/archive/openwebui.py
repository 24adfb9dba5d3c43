"""Open WebUI's chat export (Settings › Chats › Export): a JSON list of chats, each holding its
message tree in ``chat.history.messages`` (``parentId`` links, ``currentId`` the leaf on
screen). Times are epoch seconds or milliseconds, told apart by size. Reasoning written into
a reply (``<details type="reasoning">``, ``<think>``) is taken out of its text into
``reasoning``. Images come inline as data URLs (their bytes are in the export) or as links to
the server they were uploaded to (not in the export)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO

from causerie.archive.assemble import assemble
from causerie.archive.jsoncap import MAX_ITEM_BYTES
from causerie.archive.jsonstream import upload_list
from causerie.archive.reader import ListReader, Malformed
from causerie.archive.tree import (
    CustomInstructions,
    ImportedAttachment,
    ImportedConversation,
    ImportedNode,
    Reasoning,
)
from causerie.archive.values import (
    EPOCH,
    NAME_MAX,
    clip,
    flag,
    model_of,
    number_of,
    role_of,
    safe_id,
    text_of,
    title_of,
    utc_from_epoch,
)

_REASONING = re.compile(
    r'<details\b[^>]*\btype="reasoning"[^>]*>(.*?)</details>|<think>(.*?)</think>',
    re.DOTALL,
)
_SUMMARY = re.compile(r"^\s*<summary>(.*?)</summary>", re.DOTALL)
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,", re.DOTALL)
_FILE_URL = re.compile(r"/files/([^/?#]+)")


def chat_key(item: Any) -> tuple[str | None, float]:
    if not isinstance(item, Mapping):
        return None, 0.0
    updated = utc_from_epoch(item.get("updated_at"))
    return safe_id(item.get("id")), updated.timestamp() if updated else 0.0


def open_openwebui_json(
    upload: str | Path | BinaryIO,
    name: str = "chat-export.json",
    max_item_bytes: int = MAX_ITEM_BYTES,
) -> ListReader:
    """The reader of an Open WebUI export (the upload stays the caller's to close)."""
    return ListReader(
        "openwebui", [upload_list(name, upload)], chat_key, read_chat, max_item_bytes=max_item_bytes
    )


def read_chat(item: Any) -> ImportedConversation:
    """One exported chat as a conversation; raises ``Malformed`` when it cannot be read."""
    if not isinstance(item, Mapping) or not isinstance(item.get("chat"), Mapping):
        raise Malformed("not an Open WebUI chat (no 'chat' object)")
    chat: Mapping[str, Any] = item["chat"]
    messages = _messages(chat)
    if not messages:
        raise Malformed("has no messages")
    created = utc_from_epoch(item.get("created_at")) or utc_from_epoch(chat.get("timestamp"))
    created = created or EPOCH
    parents = _parents(messages)
    drafts: list[ImportedNode] = []
    unknown: set[str] = set()
    for node_id, message in messages.items():
        when = utc_from_epoch(message.get("timestamp"))
        if when is None:
            unknown.add(node_id)
        drafts.append(_node(node_id, parents.get(node_id), message, when or created))
    current = safe_id(_mapping(chat.get("history")).get("currentId"))
    nodes, leaf = assemble(drafts, unknown, current)
    models = chat.get("models")
    system = text_of(chat.get("system")) or text_of(_mapping(chat.get("params")).get("system"))
    return ImportedConversation(
        source="openwebui",
        external_id=safe_id(item.get("id")) or safe_id(chat.get("id")) or _derived_id(messages),
        title=title_of(item.get("title")) or title_of(chat.get("title")),
        created_at=created,
        updated_at=utc_from_epoch(item.get("updated_at")) or created,
        nodes=nodes,
        current_leaf_id=leaf,
        model=model_of(models[0]) if isinstance(models, list) and models else None,
        archived=flag(item.get("archived")),
        pinned=flag(item.get("pinned")),
        custom_instructions=CustomInstructions(response_style=system.strip())
        if system.strip()
        else None,
        tags=_tags(_mapping(item.get("meta")).get("tags") or chat.get("tags")),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _messages(chat: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The message tree by id; from the flat ``messages`` list (one branch, each the parent
    of the next) when an old export has no ``history``."""
    history = _mapping(chat.get("history"))
    tree = history.get("messages")
    if isinstance(tree, Mapping) and tree:
        return {
            node_id: message
            for key, message in tree.items()
            if (node_id := safe_id(key)) is not None and isinstance(message, Mapping)
        }
    flat = chat.get("messages")
    found: dict[str, Mapping[str, Any]] = {}
    previous: str | None = None
    for index, message in enumerate(flat if isinstance(flat, list) else []):
        if not isinstance(message, Mapping):
            continue
        node_id = safe_id(message.get("id")) or f"message-{index}"
        found[node_id] = {"parentId": previous, **message}
        previous = node_id
    return found


def _parents(messages: Mapping[str, Mapping[str, Any]]) -> dict[str, str | None]:
    """Each message's parent: its ``parentId``, or when it has none the message whose
    ``childrenIds`` name it."""
    parents: dict[str, str | None] = {}
    for node_id, message in messages.items():
        children = message.get("childrenIds")
        for child in children if isinstance(children, list) else []:
            if (child_id := safe_id(child)) is not None:
                parents.setdefault(child_id, node_id)
    for node_id, message in messages.items():
        if (parent := safe_id(message.get("parentId"))) is not None:
            parents[node_id] = parent
    return parents


def _node(node_id: str, parent: str | None, message: Mapping[str, Any], when: Any) -> ImportedNode:
    role = role_of(message.get("role"))
    text, reasoning = split_reasoning(_content_text(message.get("content")))
    return ImportedNode(
        id=node_id,
        parent_id=parent,
        role=role or "system",
        text=text,
        created_at=when,
        model=model_of(message.get("model")) if role == "assistant" else None,
        status="interrupted" if message.get("done") is False else "complete",
        hidden="unknown_role" if role is None else "system" if role == "system" else None,
        reasoning=reasoning,
        attachments=tuple(_attachments(message.get("files"))),
    )


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style parts
        return "\n\n".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def split_reasoning(content: str) -> tuple[str, Reasoning | None]:
    """The reply without its reasoning blocks, and the reasoning (None when there was none).
    Open WebUI quotes the thoughts (``> ``) and puts "Thought for 3 seconds" in ``<summary>``."""
    if "<details" not in content and "<think>" not in content:
        return content, None
    thoughts: list[str] = []
    summary: str | None = None
    for match in _REASONING.finditer(content):
        body = match.group(1) if match.group(1) is not None else match.group(2)
        if found := _SUMMARY.match(body):
            summary = found.group(1).strip() or summary
            body = body[found.end() :]
        lines = [
            line[2:] if line.startswith("> ") else line.lstrip(">") for line in body.splitlines()
        ]
        if text := "\n".join(lines).strip():
            thoughts.append(text)
    if not thoughts and summary is None:
        return content, None
    return _REASONING.sub("", content).strip(), Reasoning("\n\n".join(thoughts), summary)


def _attachments(files: Any) -> Iterator[ImportedAttachment]:
    for index, item in enumerate(files if isinstance(files, list) else []):
        if not isinstance(item, Mapping):
            continue
        url = text_of(item.get("url"))
        inner = _mapping(item.get("file"))
        meta = _mapping(inner.get("meta"))
        data = _DATA_URL.match(url)
        mime = (data.group(1) if data else None) or clip(meta.get("content_type"), NAME_MAX)
        if mime is None and item.get("type") == "image":
            mime = "image/png"
        from_url = _FILE_URL.search(url)
        asset_id = (
            safe_id(item.get("id"))
            or safe_id(inner.get("id"))
            or (from_url.group(1) if from_url else None)
            or f"inline-{index}-{hashlib.sha256(url.encode()).hexdigest()[:16]}"
        )
        name = clip(item.get("name"), NAME_MAX) or clip(inner.get("filename"), NAME_MAX)
        yield ImportedAttachment(
            asset_id=asset_id,
            name=name or asset_id,
            mime_type=mime,
            size=number_of(item.get("size")) or number_of(meta.get("size")),
            opener=_inline(url[data.end() :], data.group(2) or "") if data else None,
        )


def _inline(payload: str, parameters: str) -> Callable[[], IO[bytes]]:
    """Opens the bytes of a data URL, decoded only when read."""

    def open_inline() -> IO[bytes]:
        if ";base64" not in parameters:
            return io.BytesIO(payload.encode())
        try:
            return io.BytesIO(base64.b64decode(payload, validate=False))
        except (binascii.Error, ValueError) as exc:
            raise FileNotFoundError(f"the inline file is damaged ({exc})") from exc

    return open_inline


def _tags(tags: Any) -> tuple[str, ...]:
    found = []
    for tag in tags if isinstance(tags, list) else []:
        name = clip(tag.get("name") if isinstance(tag, Mapping) else tag, NAME_MAX)
        if name and name not in found:
            found.append(name)
    return tuple(found)


def _derived_id(messages: Mapping[str, Any]) -> str:
    seed = json.dumps(sorted(messages)[:100])
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()
