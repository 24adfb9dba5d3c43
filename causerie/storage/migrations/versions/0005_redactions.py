"""The privacy firewall's report on a reply: what kinds of personal data (and how many) were
replaced before the request went to an external provider. Never the values.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("redactions", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "redactions")
