"""Every paid image is a row with when it was paid, so a day's spend is that day's images.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``slide_payments`` and ``slides.cost_estimated``.

    Existing slides' ``spent`` becomes one payment at their ``finished_at``: when each of
    their earlier images was paid is not known.
    """
    op.create_table(
        "slide_payments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "batch_id",
            sa.String(32),
            sa.ForeignKey("batches.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("slide_key", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_slide_payments_paid_at", "slide_payments", ["paid_at"])
    op.create_index("ix_slide_payments_batch", "slide_payments", ["batch_id", "slide_key"])
    # A plain ADD COLUMN (SQLite has it): a batch copy of slides would have to reflect the
    # batches table's expression index, which SQLAlchemy warns it cannot.
    op.add_column(
        "slides",
        sa.Column("cost_estimated", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "INSERT INTO slide_payments (batch_id, slide_key, cost, paid_at, estimated)"
        " SELECT batch_id, key, spent, finished_at, false FROM slides"
        " WHERE spent IS NOT NULL AND finished_at IS NOT NULL"
    )


def downgrade() -> None:
    """Drop ``slide_payments`` and ``slides.cost_estimated``."""
    with op.batch_alter_table("slides") as batch:
        batch.drop_column("cost_estimated")
    op.drop_index("ix_slide_payments_batch", table_name="slide_payments")
    op.drop_index("ix_slide_payments_paid_at", table_name="slide_payments")
    op.drop_table("slide_payments")
