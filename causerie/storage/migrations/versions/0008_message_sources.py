"""The passages a reply was given, under the numbers its citations use: where each passage is
(file, page, position), never its text, so that deleting the file erases the text.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("sources", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "sources")
