"""Passage vectors: an embedding per passage, for the semantic half of document search.

- ``file_blobs`` learns how many passages a content has, how many are embedded, and by which
  model (a content embedded by another model is embedded again).
- ``passage_vectors``: one vector per passage. SQLite stores it as sqlite-vec's float32 blob
  (ranked with ``vec_distance_cosine``); Postgres as ``real[]`` (ranked by a dot product in
  SQL). Deleting a passage or a content deletes its vectors.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Columns added in place, not in batch mode: on SQLite a batch rebuilds the table, and with
    # foreign keys on, dropping the old file_blobs deletes every file and passage that points
    # at it (ON DELETE CASCADE).
    op.add_column(
        "file_blobs", sa.Column("passage_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "file_blobs", sa.Column("embedded", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("file_blobs", sa.Column("embedding_model", sa.String(64), nullable=True))
    op.execute(
        "UPDATE file_blobs SET passage_count = "
        "(SELECT count(*) FROM passages WHERE passages.blob_sha = file_blobs.sha256)"
    )
    op.create_table(
        "passage_vectors",
        sa.Column(
            "passage_id",
            sa.Integer(),
            sa.ForeignKey("passages.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "blob_sha",
            sa.String(64),
            sa.ForeignKey("file_blobs.sha256", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "embedding",
            sa.LargeBinary().with_variant(postgresql.ARRAY(sa.REAL()), "postgresql"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_table("passage_vectors")
    for column in ("embedding_model", "embedded", "passage_count"):
        op.drop_column("file_blobs", column)  # in place (SQLite 3.35+): no table rebuilt
