"""Slides keep what all their paid images cost, so a regenerated slide's spend adds up.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``spent`` (USD of every paid image of the slide; NULL: none reported a cost).

    Existing slides start from their latest image's ``cost``: what they paid before is lost.
    """
    with op.batch_alter_table("slides") as batch:
        batch.add_column(sa.Column("spent", sa.Float(), nullable=True))
    op.execute("UPDATE slides SET spent = cost")


def downgrade() -> None:
    """Drop ``spent``."""
    with op.batch_alter_table("slides") as batch:
        batch.drop_column("spent")
