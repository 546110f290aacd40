"""A slide's candidates remember which one it shows, so identical images are not all chosen.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``slide_candidates.chosen``; the newest candidate whose file the slide shows is it.

    Candidates with identical bytes share one file name, so comparing names marked every one
    of them chosen; existing rows start from that comparison, keeping only the newest.
    """
    op.add_column(
        "slide_candidates",
        sa.Column("chosen", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE slide_candidates SET chosen = (1 = 1) WHERE seq = ("
        " SELECT max(c.seq) FROM slide_candidates c JOIN slides s"
        " ON s.batch_id = c.batch_id AND s.key = c.key AND s.image_file = c.image_file"
        " WHERE c.batch_id = slide_candidates.batch_id AND c.key = slide_candidates.key)"
    )


def downgrade() -> None:
    """Drop ``chosen``."""
    with op.batch_alter_table("slide_candidates") as batch:
        batch.drop_column("chosen")
