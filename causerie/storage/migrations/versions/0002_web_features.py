"""Web chat features: pinned/archived conversations, per-conversation chat settings, message
feedback, share links, preferences (custom instructions), full-text search.

Search is native to each database:

- SQLite: two external-content FTS5 tables (``messages_fts`` over ``messages.content``,
  ``conversations_fts`` over ``conversations.title``) keyed by the base tables' rowids and kept in
  step by triggers. Any later migration that rebuilds ``messages`` or ``conversations`` (batch
  mode) changes rowids and must end with ``INSERT INTO <x>_fts(<x>_fts) VALUES('rebuild')``.
- Postgres: GIN expression indexes on ``to_tsvector('simple', ...)``, which the search query
  repeats word for word so the planner uses them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', "
    "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.rowid, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.rowid, old.content); "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    "CREATE VIRTUAL TABLE conversations_fts USING fts5(title, content='conversations', "
    "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
    "CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN "
    "INSERT INTO conversations_fts(rowid, title) VALUES (new.rowid, new.title); END",
    "CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN "
    "INSERT INTO conversations_fts(conversations_fts, rowid, title) "
    "VALUES ('delete', old.rowid, old.title); END",
    "CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN "
    "INSERT INTO conversations_fts(conversations_fts, rowid, title) "
    "VALUES ('delete', old.rowid, old.title); "
    "INSERT INTO conversations_fts(rowid, title) VALUES (new.rowid, new.title); END",
    "INSERT INTO conversations_fts(conversations_fts) VALUES ('rebuild')",
]
SQLITE_FTS_DROP = [
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TABLE IF EXISTS messages_fts",
    "DROP TRIGGER IF EXISTS conversations_fts_insert",
    "DROP TRIGGER IF EXISTS conversations_fts_delete",
    "DROP TRIGGER IF EXISTS conversations_fts_update",
    "DROP TABLE IF EXISTS conversations_fts",
]
POSTGRES_FTS = [
    "CREATE INDEX ix_messages_fts ON messages USING gin (to_tsvector('simple', content))",
    "CREATE INDEX ix_conversations_fts ON conversations USING gin (to_tsvector('simple', title))",
]


def upgrade() -> None:
    false = sa.false()
    op.add_column(
        "conversations", sa.Column("pinned", sa.Boolean(), nullable=False, server_default=false)
    )
    op.add_column(
        "conversations", sa.Column("archived", sa.Boolean(), nullable=False, server_default=false)
    )
    # JSON: {"system_prompt", "temperature", "top_p", "max_tokens"} chosen for this conversation
    op.add_column("conversations", sa.Column("settings", sa.Text(), nullable=True))
    # The sidebar: unarchived conversations, newest first, read page by page (keyset).
    op.create_index(
        "ix_conversations_archived_updated", "conversations", ["archived", "updated_at", "id"]
    )
    op.add_column("messages", sa.Column("rating", sa.SmallInteger(), nullable=True))
    op.add_column("messages", sa.Column("feedback_comment", sa.Text(), nullable=True))
    op.create_index("ix_messages_parent_id", "messages", ["parent_id"])
    op.create_table(
        "shares",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.String(36),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),  # JSON: the shared branch
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "preferences",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    statements = SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else POSTGRES_FTS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS_DROP:
            op.execute(statement)
    else:
        op.drop_index("ix_conversations_fts", "conversations")
        op.drop_index("ix_messages_fts", "messages")
    op.drop_table("preferences")
    op.drop_table("shares")
    op.drop_index("ix_messages_parent_id", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("feedback_comment")
        batch.drop_column("rating")
    op.drop_index("ix_conversations_archived_updated", "conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("settings")
        batch.drop_column("archived")
        batch.drop_column("pinned")
