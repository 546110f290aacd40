"""The database tables, as SQLAlchemy 2 declarative models.

Only the repositories in this package read or write these rows. The Alembic
revisions (``migrations/versions/``) create exactly this schema; a change here needs a
new revision.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# PostgreSQL hands out queue positions from this sequence; SQLite uses max()+1 under its
# single-writer lock (see repository.py).
QUEUE_SEQUENCE = "batches_queue_seq"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is timezone-aware UTC in Python on every backend.

    SQLite stores no zone, so values are normalised to UTC before they go in and get
    their ``tzinfo`` back on the way out. A naive datetime is a bug in the caller.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to storage; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base holding the metadata Alembic compares against."""


class BatchRow(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32))
    style_prompt: Mapped[str] = mapped_column(Text)
    aspect_ratio: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text, default="")
    requested_workers: Mapped[int | None] = mapped_column(Integer)
    effective_workers: Mapped[int | None] = mapped_column(Integer)
    total_slides: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    queue_seq: Mapped[int] = mapped_column(BigInteger)
    # Set by `slidebatch generate` (revision 0002): which output folder, which deck.
    output_key: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # A fleet's round robin (revision 0008): the turn this batch was last served at.
    fleet_turn: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The batch's cost ceiling in USD (revision 0009), so a restarted server keeps it.
    max_cost: Mapped[float | None] = mapped_column(Float)
    # Why the batch stopped short (revision 0016): "max_cost" when its cap stopped it.
    stop_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        # NULL owners (auth off) must collide too, which a plain UNIQUE(owner, key) would
        # not do: index the coalesced owner instead.
        Index(
            "ux_batches_owner_idempotency",
            func.coalesce(owner, ""),
            idempotency_key,
            unique=True,
        ),
        Index("ix_batches_state_queue_seq", "state", "queue_seq"),
        Index("ix_batches_owner_created", "owner", "created_at"),
        Index("ix_batches_created", "created_at", "queue_seq"),  # the list of every owner
        Index("ix_batches_finished_at", "finished_at"),
        Index("ix_batches_output_key", "output_key", "created_at"),
    )


class SlideRow(Base):
    __tablename__ = "slides"

    batch_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(Text)
    page_num: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    content_text: Mapped[str] = mapped_column(Text)
    visual_desc: Mapped[str] = mapped_column(Text)
    final_prompt: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requeues: Mapped[int] = mapped_column(Integer, default=0)
    image_file: Mapped[str | None] = mapped_column(String(128))
    error_message: Mapped[str | None] = mapped_column(Text)
    generation_time: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[float | None] = mapped_column(Float)  # USD of the latest image
    # USD of every paid image of the slide, replaced ones and candidates too (revision
    # 0010); NULL when none reported a cost. What the batch, max_cost and quotas count.
    spent: Mapped[float | None] = mapped_column(Float)
    # The latest image's cost is an estimate, not the provider's figure (revision 0015):
    # an image reconciled from disk whose answer was lost, priced at the model's price.
    cost_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False)
    warnings: Mapped[str | None] = mapped_column(Text)  # JSON list of strings, NULL when none
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A fleet's lease (revision 0008): the attempt number (one more per claim, never
    # reused: a write of an older attempt is refused), who holds it, until when, and
    # when a slide backing off may be claimed again.
    attempt_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(96))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Candidates rounds still to make, the one in flight counted (revision 0012; 0: the
    # slide's next image is no candidate). Written by every regenerate; a fleet worker
    # runs the rounds from it, a single process from its own ``CandidateRounds``.
    rounds_left: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        # A batch's slides by state; the list's tallies (counts, spend) read it alone
        # (revision 0017: the tallied columns after the key).
        Index(
            "ix_slides_batch_state",
            "batch_id",
            "state",
            "spent",
            "cost_estimated",
            "placeholder",
        ),
        Index("ix_slides_state_lease", "state", "lease_until"),
        # Paid slides by finish time (revision 0014): a key's spend today and the mean of
        # the latest prices read the few recent paid slides, not every slide.
        Index(
            "ix_slides_spent_finished",
            "finished_at",
            postgresql_where=text("spent IS NOT NULL"),
            sqlite_where=text("spent IS NOT NULL"),
        ),
    )


class SlidePaymentRow(Base):
    """One paid image of a slide: what it cost and when it was paid (revision 0015).

    ``slides.spent`` is the sum per slide; these rows say on which day the money went, so a
    key's daily spend counts the images paid that day, not the slides that ended that day.
    ``estimated``: priced at the model's price, the provider's figure being lost.
    """

    __tablename__ = "slide_payments"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(32), ForeignKey("batches.id", ondelete="CASCADE"))
    slide_key: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_slide_payments_paid_at", "paid_at"),
        Index("ix_slide_payments_batch", "batch_id", "slide_key"),
    )


class FleetWorkerRow(Base):
    """One fleet worker and its last heartbeat (revision 0008)."""

    __tablename__ = "fleet_workers"

    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BatchLookRow(Base):
    """A batch's look (revision 0006): anchor mode; its reference images are below."""

    __tablename__ = "batch_looks"

    batch_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    anchor: Mapped[bool] = mapped_column(Boolean, default=False)
    # The slide drawn first in anchor mode (revision 0013), so a fleet's claims can hold
    # the others back until it has ended.
    anchor_key: Mapped[int | None] = mapped_column(Integer)


class BatchReferenceRow(Base):
    """One reference image of a batch, kept with it so a restart resumes with it."""

    __tablename__ = "batch_references"

    batch_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    mime_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SlideCandidateRow(Base):
    """One image a slide's candidates round produced (revision 0006); kept until the batch
    is deleted, whichever the user picks."""

    __tablename__ = "slide_candidates"

    batch_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_file: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The one the slide shows (revision 0011): identical images share a file name, so the
    # name alone cannot tell which candidate was picked.
    chosen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_concurrent_batches: Mapped[int | None] = mapped_column(Integer)
    max_slides_per_day: Mapped[int | None] = mapped_column(Integer)
    max_spend_per_day: Mapped[float | None] = mapped_column(Float)


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str | None] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_events_at", "at"),)


class GateScopeRow(Base):
    """The fleet gate of one upstream rate scope (revision 0007): its whole decision state.

    ``state`` is ``GateCore`` as JSON text (``fleet/gate_state.py``), rewritten under a row
    lock by every decision of every worker; ``config`` is the ``GateConfig`` it was built
    from, as JSON. Times inside are fleet seconds (see ``fleet/pg_gate.py``).
    """

    __tablename__ = "gate_scopes"

    scope: Mapped[str] = mapped_column(String(512), primary_key=True)
    config: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float)  # fleet seconds


class GatePermitRow(Base):
    """One request in flight through a fleet gate (revision 0007): a lease its holder
    renews while the request runs; an expired one no longer counts."""

    __tablename__ = "gate_permits"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scope: Mapped[str] = mapped_column(
        String(512), ForeignKey("gate_scopes.scope", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[float] = mapped_column(Float)  # fleet seconds
    expires_at: Mapped[float] = mapped_column(Float)  # fleet seconds

    __table_args__ = (Index("ix_gate_permits_scope_expires", "scope", "expires_at"),)
