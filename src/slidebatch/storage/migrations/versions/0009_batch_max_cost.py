"""Batches keep their cost ceiling, so a restarted server still stops them at ``max_cost``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``max_cost`` (USD, NULL: no ceiling) to batches."""
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("max_cost", sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop ``max_cost``."""
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("max_cost")
