"""Projects: a name, instructions, files and chats that belong together.

A conversation and a file may belong to one project (``project_id``); deleting the project
deletes them (the store erases the files' contents with them).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    existing = sa.inspect(op.get_bind())  # after a downgrade, SQLite keeps what it cannot drop
    if not existing.has_table("projects"):
        _create_projects()
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in ("conversations", "files"):
        if "project_id" not in {column["name"] for column in existing.get_columns(table)}:
            _add_project_column(table, sqlite=sqlite)
        op.create_index(f"ix_{table}_project_id", table, ["project_id"])


def _add_project_column(table: str, *, sqlite: bool) -> None:
    if sqlite:
        # Not batch mode, nor alembic's add_column with a foreign key: on SQLite both rebuild
        # the table, which drops the triggers that keep the conversations' search index in
        # step. SQLite adds a column with its REFERENCES clause in place.
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN project_id VARCHAR(36) "
            "REFERENCES projects (id) ON DELETE CASCADE"
        )
    else:
        op.add_column(table, sa.Column("project_id", sa.String(36), nullable=True))
        op.create_foreign_key(
            f"fk_{table}_project", table, "projects", ["project_id"], ["id"], ondelete="CASCADE"
        )


def _create_projects() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_id", sa.String(36), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False, server_default=""),
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in ("conversations", "files"):
        op.drop_index(f"ix_{table}_project_id", table)
        if sqlite:
            # SQLite drops no column that a foreign key uses, and rebuilding the table would
            # drop its search triggers: the column stays, emptied (older code ignores it), and
            # so does the (emptied) table it refers to.
            op.execute(f"UPDATE {table} SET project_id = NULL")
        else:
            op.drop_constraint(f"fk_{table}_project", table, type_="foreignkey")
            op.drop_column(table, "project_id")
    if sqlite:
        op.execute("DELETE FROM projects")
    else:
        op.drop_table("projects")
