"""Batches remember where a CLI run writes them: output folder and deck fingerprint.

``slidebatch generate`` resumes the interrupted batch of the same deck into the same
output folder; these two columns are how it finds it (NULL for batches from the API).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``output_key`` and ``fingerprint`` to batches, with an index to look them up."""
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("output_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("fingerprint", sa.String(64), nullable=True))
    op.create_index("ix_batches_output_key", "batches", ["output_key", "created_at"])


def downgrade() -> None:
    """Drop the two columns and their index."""
    op.drop_index("ix_batches_output_key", table_name="batches")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("fingerprint")
        batch.drop_column("output_key")
