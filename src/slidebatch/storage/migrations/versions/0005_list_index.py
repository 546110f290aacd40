"""An index for the batch list of every owner: newest first without sorting the table.

``GET /api/slide/batch`` orders by ``created_at, queue_seq`` descending; with an owner the
``(owner, created_at)`` index serves it, without one (open mode, an admin key) only this.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index batches by creation time (and FIFO position, the list's tie-break)."""
    op.create_index("ix_batches_created", "batches", ["created_at", "queue_seq"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_batches_created", table_name="batches")
