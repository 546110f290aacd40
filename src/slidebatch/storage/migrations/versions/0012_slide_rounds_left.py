"""Slides keep how many candidates rounds are left, so a fleet worker can run them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``rounds_left`` (candidates rounds still to make, the one in flight counted; 0: the
    slide's image is no candidate)."""
    op.add_column(
        "slides", sa.Column("rounds_left", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    """Drop ``rounds_left``."""
    with op.batch_alter_table("slides") as batch:
        batch.drop_column("rounds_left")
