"""The fleet gate: one decision-state row per upstream rate scope and one lease per permit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``gate_scopes`` (a gate's state, JSON) and ``gate_permits`` (leases in flight).

    Created on SQLite too (one schema everywhere), where nothing uses them.
    """
    op.create_table(
        "gate_scopes",
        sa.Column("scope", sa.String(512), primary_key=True),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "gate_permits",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "scope",
            sa.String(512),
            sa.ForeignKey("gate_scopes.scope", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_gate_permits_scope_expires", "gate_permits", ["scope", "expires_at"])


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_index("ix_gate_permits_scope_expires", table_name="gate_permits")
    op.drop_table("gate_permits")
    op.drop_table("gate_scopes")
