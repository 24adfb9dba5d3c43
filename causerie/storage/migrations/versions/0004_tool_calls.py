"""Function calling: an assistant message keeps its tool calls (JSON, OpenAI's shape) and a
``tool`` message the id of the call it answers.

add_column and drop_column keep SQLite rowids, so the FTS tables of 0002 stay valid.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("tool_calls", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("tool_call_id", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "tool_call_id")
    op.drop_column("messages", "tool_calls")
