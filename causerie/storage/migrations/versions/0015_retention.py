"""Retention and erasure: a group's own retention period, and full-text indexes that forget.

- ``user_groups.retention_days``: how long its members' conversations are kept (None: the
  site's policy; 0: forever).
- SQLite: the FTS5 indexes (``messages_fts``, ``conversations_fts``, ``passages_fts``) get
  FTS5's ``secure-delete`` option, so a deleted row's words leave the index at once instead of
  being masked by a delete marker until the next merge; ``optimize`` then merges away the
  markers and words of rows deleted before this migration.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS_TABLES = ("messages_fts", "conversations_fts", "passages_fts")


def upgrade() -> None:
    op.add_column("user_groups", sa.Column("retention_days", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        for table in FTS_TABLES:
            op.execute(f"INSERT INTO {table}({table}, rank) VALUES ('secure-delete', 1)")
            op.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in FTS_TABLES:
            op.execute(f"INSERT INTO {table}({table}, rank) VALUES ('secure-delete', 0)")
    with op.batch_alter_table("user_groups") as batch:
        batch.drop_column("retention_days")
