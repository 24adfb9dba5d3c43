"""``conversations.archive_seen``: what the Causerie archive a conversation was restored from
(under its own id) said last of it (JSON: title, flags, selected leaf), so that a newer
archive changes only what changed there, as ``conversation_imports.seen`` does for the other
formats.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("archive_seen", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not a batch: rebuilding the table on SQLite would drop its search triggers, and SQLite
    # (3.35 on) drops a column that nothing else names in place.
    op.drop_column("conversations", "archive_seen")
