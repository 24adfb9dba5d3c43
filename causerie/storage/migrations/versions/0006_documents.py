"""Documents: uploaded files (bytes stored once per content hash), their passages, and a
keyword index over the passages.

- SQLite: an external-content FTS5 table ``passages_fts`` over ``passages.text``, kept in step
  by triggers (the unicode61 tokenizer folds case and accents: "été" finds "ete").
- Postgres: a GIN expression index on ``to_tsvector('simple', text)``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE passages_fts USING fts5(text, content='passages', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER passages_fts_insert AFTER INSERT ON passages BEGIN "
    "INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER passages_fts_delete AFTER DELETE ON passages BEGIN "
    "INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
]
POSTGRES_FTS = [
    "CREATE INDEX ix_passages_fts ON passages USING gin (to_tsvector('simple', text))",
]


def upgrade() -> None:
    op.create_table(
        "file_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column(
            "blob_sha",
            sa.String(64),
            sa.ForeignKey("file_blobs.sha256", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column(
            "conversation_id",
            sa.String(36),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_files_owner_conversation", "files", ["owner_id", "conversation_id"])
    op.create_table(
        "passages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "blob_sha",
            sa.String(64),
            sa.ForeignKey("file_blobs.sha256", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("start_offset", sa.Integer(), nullable=False),
        sa.Column("end_offset", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_passages_blob_position", "passages", ["blob_sha", "position"])
    statements = SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else POSTGRES_FTS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS passages_fts_insert")
        op.execute("DROP TRIGGER IF EXISTS passages_fts_delete")
        op.execute("DROP TABLE IF EXISTS passages_fts")
    op.drop_table("passages")
    op.drop_table("files")
    op.drop_table("file_blobs")
