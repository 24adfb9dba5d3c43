"""What importing again changes on a conversation that was there: the title, flags and
selected leaf follow the export only where it changed them since the last import (``seen``:
what it said then), so a rename made in Causerie meanwhile is kept; and the fields as they
were, for ``ImportJournal`` to put back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from causerie.storage.import_rows import key
from causerie.storage.tables import ConversationImportRow, ConversationRow

__all__ = ["IMPORT_FIELDS", "fields_of", "follow", "leaf_of"]


def follow(
    conversation: ConversationRow,
    seen: Mapping[str, Any],
    now_seen: Mapping[str, Any],
    leaf: str | None,
) -> bool:
    """The title, flags and selected leaf (``leaf``: the message its leaf became) the export
    changed since ``seen`` (what it said the last time; ``now_seen`` what it says now)
    overwrite the conversation's; what it did not change stays as the owner left it.
    Returns whether anything changed."""
    changed = False
    for name in ("title", "archived", "pinned"):
        if now_seen[name] != seen.get(name):
            setattr(conversation, name, now_seen[name])
            changed = True
    if now_seen["leaf"] != seen.get("leaf") or conversation.current_leaf_id is None:
        conversation.current_leaf_id = leaf or conversation.current_leaf_id
        changed = True
    return changed


def leaf_of(ids: Mapping[str, tuple[str, str]], leaf: str | None) -> str | None:
    """The message the export's selected leaf became (``ids``: node id -> message id)."""
    found = ids.get(key(leaf or ""))
    return found[0] if found else None


IMPORT_FIELDS = ("seen", "custom_instructions")


def fields_of(
    conversation: ConversationRow, imported: ConversationImportRow | None
) -> dict[str, Any]:
    """What an update may change, as it is now (``IMPORT_FIELDS`` are the import row's)."""
    fields = {
        "title": conversation.title,
        "archived": conversation.archived,
        "pinned": conversation.pinned,
        "current_leaf_id": conversation.current_leaf_id,
        "updated_at": conversation.updated_at,
        "archive_seen": conversation.archive_seen,
    }
    if imported is not None:
        fields.update(seen=imported.seen, custom_instructions=imported.custom_instructions)
    return fields
