"""A fleet on PostgreSQL: slide leases with an attempt number, batch turns, worker beats.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the lease columns to ``slides``, ``fleet_turn`` to ``batches`` and the
    ``fleet_workers`` table (one row per worker, its last heartbeat)."""
    # Plain ADD COLUMN (constant defaults): SQLite does it in place, no table copy.
    op.add_column(
        "slides", sa.Column("attempt_seq", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("slides", sa.Column("lease_owner", sa.String(96), nullable=True))
    op.add_column("slides", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("slides", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "batches", sa.Column("fleet_turn", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.create_index("ix_slides_state_lease", "slides", ["state", "lease_until"])
    op.create_table(
        "fleet_workers",
        sa.Column("name", sa.String(96), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE IF NOT EXISTS fleet_turn_seq")


def downgrade() -> None:
    """Drop what ``upgrade`` added."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS fleet_turn_seq")
    op.drop_table("fleet_workers")
    op.drop_index("ix_slides_state_lease", table_name="slides")
    with op.batch_alter_table("batches") as batches:
        batches.drop_column("fleet_turn")
    with op.batch_alter_table("slides") as slides:
        slides.drop_column("due_at")
        slides.drop_column("lease_until")
        slides.drop_column("lease_owner")
        slides.drop_column("attempt_seq")
