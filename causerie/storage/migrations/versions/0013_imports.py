"""Imported conversations: where each came from (so importing again adds only what is new),
messages' source ids, hidden reasons and reasoning, and the files imported messages carried.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE_COLUMNS = ("external_id", "hidden", "reasoning")


def upgrade() -> None:
    # ADD COLUMN, not batch mode: SQLite adds them in place, so the rowids the FTS5 index of
    # migration 0002 is keyed by stay as they are.
    op.add_column("messages", sa.Column("external_id", sa.String(200), nullable=True))
    op.add_column("messages", sa.Column("hidden", sa.String(32), nullable=True))
    op.add_column("messages", sa.Column("reasoning", sa.Text(), nullable=True))
    op.create_table(
        "conversation_imports",
        sa.Column(
            "conversation_id",
            sa.String(36),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("custom_instructions", sa.Text(), nullable=True),
        sa.Column("seen", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ux_conversation_imports_source",
        "conversation_imports",
        ["owner_id", "source", "external_id"],
        unique=True,
    )
    op.create_table(
        "message_attachments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "message_id",
            sa.String(36),
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("missing", sa.String(32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("message_attachments")
    op.drop_index("ux_conversation_imports_source", "conversation_imports")
    op.drop_table("conversation_imports")
    for column in reversed(MESSAGE_COLUMNS):
        op.drop_column("messages", column)
