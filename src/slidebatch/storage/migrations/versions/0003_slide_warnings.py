"""Slides keep the warnings their image came with (text cut to fit, glyphs no font has).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``slides.warnings``: a JSON list of strings, NULL when there are none."""
    with op.batch_alter_table("slides") as batch:
        batch.add_column(sa.Column("warnings", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop ``slides.warnings``."""
    with op.batch_alter_table("slides") as batch:
        batch.drop_column("warnings")
