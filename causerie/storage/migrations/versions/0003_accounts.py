"""Accounts: users, groups, sessions, API keys, invitations, usage counters, quota windows,
leases, the audit log, site settings; every conversation and preference gets an owner.

Rows that existed before belong to ``local``, the single user of a server without accounts;
the first admin account adopts them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # add_column keeps SQLite rowids, so the FTS tables of 0002 stay valid.
    op.add_column(
        "conversations",
        sa.Column("owner_id", sa.String(36), nullable=False, server_default="local"),
    )
    op.create_index(
        "ix_conversations_owner_archived_updated",
        "conversations",
        ["owner_id", "archived", "updated_at"],
    )
    op.create_table(
        "user_preferences",
        sa.Column("owner_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        _moment("updated_at"),
    )
    op.execute(
        "INSERT INTO user_preferences (owner_id, name, value, updated_at) "
        "SELECT 'local', name, value, updated_at FROM preferences"
    )
    op.drop_table("preferences")
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=True),
        sa.Column("models", sa.Text(), nullable=True),
        sa.Column("tokens_per_day", sa.BigInteger(), nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("concurrent_requests", sa.Integer(), nullable=True),
        _moment("created_at"),
    )
    op.create_table(
        "user_groups",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("models", sa.Text(), nullable=True),
    )
    user_fk = sa.ForeignKey("users.id", ondelete="CASCADE")
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(36), user_fk, nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _moment("created_at"),
        _moment("expires_at"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        _moment("created_at"),
        _moment("last_used_at", nullable=True),
        _moment("revoked_at", nullable=True),
    )
    op.create_table(
        "invites",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("created_by", sa.String(36), nullable=False),
        _moment("created_at"),
        _moment("expires_at"),
        sa.Column("used_by", sa.String(36), nullable=True),
    )
    op.create_table(
        "usage",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "rate_windows",
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("minute", sa.BigInteger(), primary_key=True),
        sa.Column("requests", sa.Integer(), nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), nullable=False, index=True),
        _moment("expires_at"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_action_at", "audit_events", ["action", "at"])
    op.create_table(
        "site_settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "site_settings",
        "audit_events",
        "leases",
        "rate_windows",
        "usage",
        "invites",
        "api_keys",
        "sessions",
        "user_groups",
        "users",
    ):
        op.drop_table(table)
    op.create_table(
        "preferences",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        _moment("updated_at"),
    )
    op.execute(
        "INSERT INTO preferences (name, value, updated_at) "
        "SELECT name, value, updated_at FROM user_preferences WHERE owner_id = 'local'"
    )
    op.drop_table("user_preferences")
    op.drop_index("ix_conversations_owner_archived_updated", "conversations")
    op.drop_column("conversations", "owner_id")
