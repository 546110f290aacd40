"""The seed's resources: projects, project_batches, templates, app_config.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the four tables and their indexes."""
    op.create_table(
        "projects",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("template_style_prompt", sa.Text(), nullable=False),
        sa.Column("slides_json", sa.Text(), nullable=False),
        sa.Column("thumbnail_url", sa.Text(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
    )
    op.create_index("ix_projects_owner_updated", "projects", ["owner", "updated_at"])
    op.create_table(
        "project_batches",
        sa.Column(
            "project_id",
            sa.String(64),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "batch_id",
            sa.String(32),
            sa.ForeignKey("batches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_project_batches_batch", "project_batches", ["batch_id"])
    op.create_table(
        "templates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("style_prompt", sa.Text(), nullable=False),
        sa.Column("cover_image", sa.Text(), nullable=True),
        sa.Column("settings_json", sa.Text(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
    )
    op.create_index("ix_templates_owner_created", "templates", ["owner", "created_at"])
    op.create_table(
        "app_config",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("app_config")
    op.drop_index("ix_templates_owner_created", table_name="templates")
    op.drop_table("templates")
    op.drop_index("ix_project_batches_batch", table_name="project_batches")
    op.drop_table("project_batches")
    op.drop_index("ix_projects_owner_updated", table_name="projects")
    op.drop_table("projects")
