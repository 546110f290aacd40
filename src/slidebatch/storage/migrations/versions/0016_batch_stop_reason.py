"""Why a batch stopped: ``batches.stop_reason`` ("max_cost" when its cost cap stopped it).

A batch stopped at its ``max_cost`` ended ``cancelled`` like one a user cancelled, and its
status could not tell the two apart; the column is set with the cancel and cleared when the
batch is reopened (retry, regenerate).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable ``stop_reason`` column."""
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("stop_reason", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("stop_reason")
