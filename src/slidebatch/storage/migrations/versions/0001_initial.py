"""Initial schema: batches, slides, api_keys, audit_events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_SEQUENCE = "batches_queue_seq"


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the four tables, their indexes, and (PostgreSQL) the queue sequence."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(sa.Sequence(QUEUE_SEQUENCE)))
    op.create_table(
        "batches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("style_prompt", sa.Text(), nullable=False),
        sa.Column("aspect_ratio", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("requested_workers", sa.Integer(), nullable=True),
        sa.Column("effective_workers", sa.Integer(), nullable=True),
        sa.Column("total_slides", sa.Integer(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("started_at", _when(), nullable=True),
        sa.Column("finished_at", _when(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("queue_seq", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ux_batches_owner_idempotency",
        "batches",
        [sa.text("coalesce(owner, '')"), "idempotency_key"],
        unique=True,
    )
    op.create_index("ix_batches_state_queue_seq", "batches", ["state", "queue_seq"])
    op.create_index("ix_batches_owner_created", "batches", ["owner", "created_at"])
    op.create_index("ix_batches_finished_at", "batches", ["finished_at"])

    op.create_table(
        "slides",
        sa.Column(
            "batch_id",
            sa.String(32),
            sa.ForeignKey("batches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("page_num", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content_text", sa.Text(), nullable=False),
        sa.Column("visual_desc", sa.Text(), nullable=False),
        sa.Column("final_prompt", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requeues", sa.Integer(), nullable=False),
        sa.Column("image_file", sa.String(128), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("generation_time", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("placeholder", sa.Boolean(), nullable=False),
        sa.Column("started_at", _when(), nullable=True),
        sa.Column("finished_at", _when(), nullable=True),
    )
    op.create_index("ix_slides_batch_state", "slides", ["batch_id", "state"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key_hash", sa.String(255), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("revoked_at", _when(), nullable=True),
        sa.Column("max_concurrent_batches", sa.Integer(), nullable=True),
        sa.Column("max_slides_per_day", sa.Integer(), nullable=True),
        sa.Column("max_spend_per_day", sa.Float(), nullable=True),
    )

    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", _when(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])


def downgrade() -> None:
    """Drop everything ``upgrade`` created."""
    op.drop_table("audit_events")
    op.drop_table("api_keys")
    op.drop_index("ix_slides_batch_state", table_name="slides")
    op.drop_table("slides")
    op.drop_table("batches")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence(QUEUE_SEQUENCE)))
