"""Persistence. The only package that imports SQLAlchemy."""

from causerie.storage.conversations import (
    ConversationStore,
    ConversationSummary,
    MessageDraft,
    StoredMessage,
)
from causerie.storage.db import Database

__all__ = [
    "ConversationStore",
    "ConversationSummary",
    "Database",
    "MessageDraft",
    "StoredMessage",
]
