"""A batch's look keeps which slide anchors it, so a fleet can hold the others back.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``batch_looks.anchor_key``: in anchor mode, the first cover, else the first slide
    (by page, then key), as ``core/slide.anchor_key`` chooses it for new batches."""
    op.add_column("batch_looks", sa.Column("anchor_key", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE batch_looks SET anchor_key = (SELECT s.key FROM slides s"
        " WHERE s.batch_id = batch_looks.batch_id"
        " ORDER BY CASE WHEN s.type = 'cover' THEN 0 ELSE 1 END, s.page_num, s.key LIMIT 1)"
        " WHERE anchor"
    )


def downgrade() -> None:
    """Drop ``anchor_key``."""
    with op.batch_alter_table("batch_looks") as batch:
        batch.drop_column("anchor_key")
