"""Tables of the seed system's own resources: projects (linked to batches), templates, config.

Declared on the same ``Base`` as ``tables.py`` so Alembic sees one schema; revision
``0004_projects_templates`` creates exactly these.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from slidebatch.storage.tables import Base, UTCDateTime


class ProjectRow(Base):
    __tablename__ = "projects"

    # The client's id (the seed's frontend makes a UUID); owners never share an id.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    template_style_prompt: Mapped[str] = mapped_column(Text)
    slides_json: Mapped[str] = mapped_column(Text)
    thumbnail_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_projects_owner_updated", "owner", "updated_at"),)


class ProjectBatchRow(Base):
    """A project shows images of these batches; a linked batch outlives BATCH_CLEANUP_HOURS."""

    __tablename__ = "project_batches"

    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    batch_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_project_batches_batch", "batch_id"),)


class TemplateRow(Base):
    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    style_prompt: Mapped[str] = mapped_column(Text)
    cover_image: Mapped[str | None] = mapped_column(Text)
    settings_json: Mapped[str] = mapped_column(Text)  # vis_settings, ratios, dimensions
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_templates_owner_created", "owner", "created_at"),)


class AppConfigRow(Base):
    """The seed's settings page: values saved through ``POST /api/config``, one JSON per name."""

    __tablename__ = "app_config"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
