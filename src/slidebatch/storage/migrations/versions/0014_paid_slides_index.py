"""An index of paid slides by finish time, for a key's spend today and the latest prices.

``UsageRepository.spend_since`` (every submit of a key with a daily spend cap, and
``/api/usage``) summed the spend of every slide of every batch the key ever made to keep
today's; ``mean_cost`` (the unit price of estimates) sorted every priced slide to take the
newest 50. Both now read this partial index: only slides with a spend are in it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index ``slides.finished_at`` where ``spent`` is set."""
    op.create_index(
        "ix_slides_spent_finished",
        "slides",
        ["finished_at"],
        postgresql_where=sa.text("spent IS NOT NULL"),
        sqlite_where=sa.text("spent IS NOT NULL"),
    )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_slides_spent_finished", table_name="slides")
