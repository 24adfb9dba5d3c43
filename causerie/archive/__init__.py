"""Conversations brought in from other assistants' exports (and, later, Causerie's own
archive). Each format has a small reader that yields one neutral conversation tree
(``tree.py``) per conversation; nothing here touches the database.

    with open_export(path) as export:  # detects the format from the content
        for item in export:            # ImportedConversation, or Skipped with a reason
            ...
"""

from causerie.archive.detect import open_export
from causerie.archive.tree import (
    CustomInstructions,
    ExportReader,
    ImportedAttachment,
    ImportedConversation,
    ImportedNode,
    ReadItem,
    Reasoning,
    Skipped,
)
from causerie.archive.zipsafe import ZipLimits

__all__ = [
    "CustomInstructions",
    "ExportReader",
    "ImportedAttachment",
    "ImportedConversation",
    "ImportedNode",
    "ReadItem",
    "Reasoning",
    "Skipped",
    "ZipLimits",
    "open_export",
]
