"""API keys that store nothing by default: a request through such a key that does not say
`store` leaves no conversation behind (`causerie keys create --no-store`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD and DROP COLUMN, not batch mode: SQLite does both in place (no table rebuild).
    op.add_column(
        "api_keys",
        sa.Column("store_default", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_column("api_keys", "store_default")
