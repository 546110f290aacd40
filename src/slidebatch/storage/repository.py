"""BatchRepository: the only code that reads or writes the batches and slides tables.

Every method is one short transaction and returns domain values (``BatchRecord``,
``SlideRecord``), never rows. Per-slide state writes are single Core ``UPDATE``s by
primary key (no ORM unit of work) because the engine makes two or three of them per slide.
Slide ``key`` is the slide's 0-based position in the request.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Row,
    Select,
    String,
    Subquery,
    Table,
    Update,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slidebatch.core.batch import BatchOrigin, BatchRecord, SlideRecord
from slidebatch.core.cost import Spend
from slidebatch.core.look import Look
from slidebatch.core.slide import BatchRequest
from slidebatch.core.slide_change import SlideChange
from slidebatch.core.states import BatchState, SlideState
from slidebatch.errors import Conflict, InputError, NotFound
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.storage.candidates import (
    Candidate,
    add_candidate,
    choose,
    list_candidates,
    unchoose,
)
from slidebatch.storage.errors import translated
from slidebatch.storage.group_commit import GroupCommit
from slidebatch.storage.looks import read_look, read_looks
from slidebatch.storage.membership import one_of, slide_pair_in
from slidebatch.storage.new_batches import insert_batches, new_batch
from slidebatch.storage.retrying import Sleep, UntilAnswered
from slidebatch.storage.rows import (
    batch_record,
    fresh_slide,
    slide_columns,
    slide_record,
    stored_fields,
)
from slidebatch.storage.seed_tables import ProjectBatchRow
from slidebatch.storage.shared_writes import SharedWrites
from slidebatch.storage.table_access import TableAccess, Writing, utc_now
from slidebatch.storage.tables import (
    QUEUE_SEQUENCE,
    BatchRow,
    SlidePaymentRow,
    SlideRow,
    UTCDateTime,
)

_Where = TypeVar("_Where", Select[Any], Update)
T = TypeVar("T")

_FINAL_BATCH_STATES = tuple(str(s) for s in BatchState if s.is_final)
_ACTIVE_BATCH_STATES = (str(BatchState.QUEUED), str(BatchState.RUNNING))
_BATCHES = cast(Table, BatchRow.__table__)
_SLIDES = cast(Table, SlideRow.__table__)
# One UPDATE by primary key; the SET clause comes from the parameter names.
_SLIDE_UPDATE = update(_SLIDES).where(
    _SLIDES.c.batch_id == bindparam("b_batch_id"), _SLIDES.c.key == bindparam("b_key")
)
# A paid image that reported its cost: the slide's spend grows by it (``paid``, USD).
_SLIDE_PAID = _SLIDE_UPDATE.values(
    spent=func.coalesce(_SLIDES.c.spent, 0.0) + bindparam("paid", type_=Float)
)
# ... and the payment is kept with when it was paid (the slide's new ``finished_at``), for
# the daily spend; a slide that does not exist (deleted meanwhile) gets none, nor a free image.
_PAYMENT = insert(cast(Table, SlidePaymentRow.__table__)).from_select(
    ["batch_id", "slide_key", "cost", "paid_at", "estimated"],
    select(
        bindparam("b_batch_id", type_=String()),
        bindparam("b_key", type_=Integer()),
        bindparam("paid", type_=Float()),
        bindparam("finished_at", type_=UTCDateTime()),
        bindparam("cost_estimated", type_=Boolean()),
    ).where(
        bindparam("paid", type_=Float()) > 0,  # a free image (the offline renderer) pays nothing
        select(_SLIDES.c.key)
        .where(_SLIDES.c.batch_id == bindparam("b_batch_id"), _SLIDES.c.key == bindparam("b_key"))
        .exists(),
    ),
)


# The counts a batch answer needs (done, error, cancelled), beside each listed batch.
_COUNTED = (SlideState.DONE, SlideState.ERROR, SlideState.CANCELLED)


def _tallies(page: Subquery, postgres: bool) -> tuple[FromClause, list[ColumnElement[Any]]]:
    """Per listed batch: its slides in each counted state and its spend (USD, NULL when no
    image reported a cost); the FROM clause that joins them to ``page``, and the columns.

    PostgreSQL reads each batch's slides once through a LATERAL subquery on the
    ``ix_slides_batch_state`` index. Three correlated counts per row were three probes each,
    and the error and cancelled ones were planned on ``ix_slides_state_lease`` (every errored
    slide of every batch, filtered) when errors are rare in the statistics; a join with the
    page's ids was a scan of every slide. SQLite has no LATERAL: correlated subqueries there,
    each an index search.
    """
    mine = _SLIDES.c.batch_id == page.c.id
    counts = [func.count().filter(_SLIDES.c.state == str(state)) for state in _COUNTED]
    spent = func.sum(_SLIDES.c.spent)
    # The part of the spend that is the model's price (images reconciled from disk), and the
    # drawn slides without any price: what a total says it is (core.cost.Spend).
    estimated = func.sum(_SLIDES.c.spent).filter(_SLIDES.c.cost_estimated.is_(True))
    unknown = func.count().filter(
        _SLIDES.c.state == str(SlideState.DONE),
        _SLIDES.c.spent.is_(None),
        _SLIDES.c.placeholder.is_(False),
    )
    columns = [*counts, spent, estimated, unknown]
    names = [f"n_{state}" for state in _COUNTED] + ["spent", "estimated", "unknown"]
    if postgres:
        per_batch = select(*(c.label(n) for c, n in zip(columns, names, strict=True))).where(mine)
        lateral = per_batch.lateral("tallies")
        return page.outerjoin(lateral, true()), [lateral.c[n] for n in names]
    scalars: list[ColumnElement[Any]] = [
        select(c).where(mine).correlate(page).scalar_subquery().label(n)
        for c, n in zip(columns, names, strict=True)
    ]
    return page, scalars


# List rows kept converted (least recently listed dropped first): several pages of 200.
LISTED_ROWS = 4096


class ListedBatch(NamedTuple):
    """A batch as the list shows it: the record, its slides per state, its spend.

    The same object for a row listed again unchanged (``BatchRepository.list_batches``):
    read it, never change its ``counts``.
    """

    batch: BatchRecord
    counts: dict[SlideState, int]
    spend: Spend


def _list_queries(postgres: bool, *, mine: bool) -> tuple[Select[Any], Select[Any]]:
    """The list's page query (each batch with its counts and spend, newest first) and its
    total query; ``limit`` and ``offset`` are bound at execution, and with ``mine`` the
    ``owner`` whose batches only are listed."""
    where = [_BATCHES.c.owner == bindparam("owner", type_=String())] if mine else []
    newest_first = (_BATCHES.c.created_at.desc(), _BATCHES.c.queue_seq.desc())
    page = (
        select(_BATCHES)
        .where(*where)
        .order_by(*newest_first)
        .limit(bindparam("limit", type_=Integer()))
        .offset(bindparam("offset", type_=Integer()))
        .subquery("page")
    )
    joined, tallies = _tallies(page, postgres)
    query = (
        select(page, *tallies)
        .select_from(joined)
        .order_by(page.c.created_at.desc(), page.c.queue_seq.desc())
    )
    count = select(func.count()).select_from(_BATCHES).where(*where)
    return query, count


def _counts_of(row: Any) -> dict[SlideState, int]:
    counts = dict.fromkeys(SlideState, 0)
    counts.update({state: int(getattr(row, f"n_{state}") or 0) for state in _COUNTED})
    return counts


def _spend_of(row: Any) -> Spend:
    total = None if row.spent is None else round(float(row.spent), 6)
    estimated = round(float(row.estimated or 0.0), 6)
    return Spend(total, estimated, int(row.unknown or 0))


class BatchRepository(TableAccess):
    """Batches and their slides, as domain records."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        writing: Writing,
        now: Callable[[], datetime] = utc_now,
        sleep: Sleep = asyncio.sleep,
        log: EventLog | None = None,
    ):
        super().__init__(engine, writing=writing, now=now)
        # The engine's bookkeeping (slide states, batch states, the counts that end a
        # batch) waits out an outage instead of failing; reads for clients answer at once.
        self._durable = UntilAnswered(sleep, log=log)
        self._postgres = engine.dialect.name == "postgresql"
        self._listed_rows: OrderedDict[Row[Any], ListedBatch] = OrderedDict()
        # Built once (every owner's, one owner's): building them was a tenth of a list's CPU.
        self._list_queries = {
            mine: _list_queries(self._postgres, mine=mine) for mine in (False, True)
        }
        # Submits that arrive together are stored in one transaction (shared_writes.py).
        self._creates = SharedWrites(writing, insert_batches)
        self._writes_begun = 0  # see ``writes_begun``
        # Concurrent slide writes share transactions and commits (see group_commit.py); so
        # do the audit rows (``Database.commits``).
        self.group_commit = GroupCommit(
            _SLIDE_UPDATE,
            writing,
            present=_slides_present,
            variants={"paid": _SLIDE_PAID},
            follow={"paid": _PAYMENT},
        )

    async def wait_idle(self) -> None:
        """Wait for batch and slide writes still being committed (``Database.close`` calls
        this)."""
        await self._creates.wait_idle()
        await self.group_commit.wait_idle()

    # --- batches ------------------------------------------------------------------------

    async def create_batch(
        self,
        *,
        request: BatchRequest,
        final_prompts: Sequence[str],
        effective_workers: int | None,
        owner: str | None,
        idempotency_key: str | None,
        origin: BatchOrigin | None = None,
        request_fingerprint: str | None = None,
    ) -> tuple[BatchRecord, bool]:
        """Store a new queued batch with its slides pending; ``(record, created)``.

        A second call with the same ``(owner, idempotency_key)`` returns the first batch
        with ``created=False``, also when both calls race (the unique index decides); when
        its ``request_fingerprint`` differs from the first call's, ``Conflict``. The
        fingerprint is kept in ``fingerprint`` (API batches have no CLI origin there).
        """
        if len(final_prompts) != len(request.slides):
            raise InputError("one final prompt per slide is required")
        if idempotency_key is not None:
            existing = await self._repeat(owner, idempotency_key, request_fingerprint)
            if existing is not None:
                return existing, False
        batch = new_batch(
            uuid.uuid4().hex,
            request,
            final_prompts,
            effective_workers=effective_workers,
            owner=owner,
            idempotency_key=idempotency_key,
            created_at=self._now(),
            origin=origin,
            request_fingerprint=request_fingerprint,
        )
        try:
            with translated("create batch"):
                await self._creates.write(batch)
        except Conflict:
            # The race: another request with the same key committed between our check and
            # our insert. Its batch is the answer; anything else is a real failure.
            if idempotency_key is None:
                raise
            existing = await self._repeat(owner, idempotency_key, request_fingerprint)
            if existing is None:
                raise
            return existing, False
        return batch.record, True

    async def _repeat(
        self, owner: str | None, key: str, fingerprint: str | None
    ) -> BatchRecord | None:
        """The batch an earlier request with this key made; ``Conflict`` if it asked otherwise."""
        query = select(_BATCHES).where(
            func.coalesce(_BATCHES.c.owner, "") == (owner or ""),
            _BATCHES.c.idempotency_key == key,
        )
        async with self._read("find batch by idempotency key") as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        stored = row.fingerprint if row.output_key is None else None
        if fingerprint is not None and stored is not None and stored != fingerprint:
            raise Conflict(
                "this Idempotency-Key was already used with a different request body; "
                "send the same body to get its batch, or use a new key for a new batch"
            )
        return batch_record(row)

    async def find_by_idempotency_key(self, owner: str | None, key: str) -> BatchRecord | None:
        """The batch ``owner`` created with this Idempotency-Key, if any."""
        query = select(_BATCHES).where(
            func.coalesce(_BATCHES.c.owner, "") == (owner or ""),
            _BATCHES.c.idempotency_key == key,
        )
        async with self._read("find batch by idempotency key") as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else batch_record(row)

    async def batches_for_output(self, output_key: str) -> list[BatchRecord]:
        """Batches a CLI run made for this output folder, newest first."""
        query = (
            select(_BATCHES)
            .where(_BATCHES.c.output_key == output_key)
            .order_by(_BATCHES.c.created_at.desc(), _BATCHES.c.queue_seq.desc())
        )
        async with self._read("find batches of an output folder") as connection:
            rows = (await connection.execute(query)).all()
        return [batch_record(r) for r in rows]

    def _next_queue_seq(self) -> ColumnElement[Any]:
        """The next FIFO position, evaluated inside the INSERT / UPDATE that uses it."""
        if self._postgres:
            return func.nextval(QUEUE_SEQUENCE)
        # SQLite has one writer at a time, so max()+1 inside the write statement is unique.
        return select(func.coalesce(func.max(_BATCHES.c.queue_seq), 0) + 1).scalar_subquery()

    async def get_batch(self, batch_id: str, *, owner: str | None = None) -> BatchRecord:
        """The batch, or ``NotFound`` if it is missing or (``owner`` given) not theirs."""
        if not _looks_like_batch_id(batch_id):
            # Ids are ours (uuid4 hex); anything else cannot exist, and a NUL in it would
            # make PostgreSQL raise instead of answering "not found".
            raise NotFound(f"batch {batch_id!r} not found")
        async with self._read("read batch") as connection:
            row = (
                await connection.execute(select(_BATCHES).where(_BATCHES.c.id == batch_id))
            ).first()
        if row is None or (owner is not None and row.owner != owner):
            raise NotFound(f"batch {batch_id} not found")
        return batch_record(row)

    async def get_batch_with_slides(
        self, batch_id: str, *, owner: str | None = None, keys: Collection[int] | None = None
    ) -> tuple[BatchRecord, list[SlideRecord]]:
        """The batch and its slides by page number, on one connection (a status poll's read).

        ``keys``: only those slides (the ones changed since an earlier read). ``NotFound`` as
        ``get_batch``.
        """
        if not _looks_like_batch_id(batch_id):
            raise NotFound(f"batch {batch_id!r} not found")
        slides = select(_SLIDES).where(_SLIDES.c.batch_id == batch_id)
        if keys is not None:
            slides = slides.where(one_of(_SLIDES.c.key, sorted(keys), postgres=self._postgres))
        slides = slides.order_by(_SLIDES.c.page_num, _SLIDES.c.key)
        async with self._read("read batch and slides") as connection:
            row = (
                await connection.execute(select(_BATCHES).where(_BATCHES.c.id == batch_id))
            ).first()
            if row is None or (owner is not None and row.owner != owner):
                raise NotFound(f"batch {batch_id} not found")
            rows = [] if keys is not None and not keys else (await connection.execute(slides)).all()
        return batch_record(row), [slide_record(r) for r in rows]

    async def get_look(self, batch_id: str) -> Look:
        """The batch's reference images and anchor mode (an empty ``Look`` when none)."""
        async with self._read("read look") as connection:
            return await read_look(connection, batch_id)

    async def add_candidate(self, batch_id: str, key: int, image_file: str) -> int:
        """Remember a candidates round's image for the slide; returns its number (from 1)."""
        async with self._write("add candidate") as connection:
            return await add_candidate(connection, batch_id, key, image_file, self._now())

    async def candidates(self, batch_id: str, key: int) -> list[Candidate]:
        """The slide's candidate images, oldest first."""
        async with self._read("list candidates") as connection:
            return await list_candidates(connection, batch_id, key)

    async def choose_candidate(self, batch_id: str, key: int, candidate: Candidate) -> SlideRecord:
        """Show ``candidate`` (one of the slide's) as the done slide's image."""
        async with self._write("choose candidate") as connection:
            result = await connection.execute(
                _one_slide(update(_SLIDES), batch_id, key)
                .where(_SLIDES.c.state == str(SlideState.DONE))
                .values(image_file=candidate.image_file, placeholder=False)
            )
            if result.rowcount == 0:
                raise Conflict(f"slide {key} of batch {batch_id} is not done; pick when it is")
            await choose(connection, batch_id, key, candidate.seq)
            row = (await connection.execute(_one_slide(select(_SLIDES), batch_id, key))).one()
        return slide_record(row)

    async def list_batches(
        self, *, owner: str | None, limit: int, offset: int
    ) -> tuple[list[ListedBatch], int]:
        """One page of batches, newest first, each with its slide counts and its spend (USD of
        every paid image, None when none reported a cost; the estimated part and the slides
        without a price), and the total.

        One query for the page with its counts and spend (``owner=None``: every owner's
        batches), one for the total. A row listed before unchanged (a finished batch's, at
        every list) gives the same ``ListedBatch`` object as then, not a new one.
        """
        query, count = self._list_queries[owner is not None]
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if owner is not None:
            params["owner"] = owner
        async with self._read("list batches") as connection:
            rows = (await connection.execute(query, params)).all()
            total = (await connection.execute(count, params)).scalar_one()
        return [self._listed(r) for r in rows], int(total)

    def _listed(self, row: Row[Any]) -> ListedBatch:
        """A list row as values, converted once per distinct row (a batch's row changes with
        any of its columns and counts): building 200 records at every list of 200 was most
        of its CPU."""
        found = self._listed_rows.get(row)
        if found is None:
            found = ListedBatch(batch_record(row), _counts_of(row), _spend_of(row))
            self._listed_rows[row] = found
            while len(self._listed_rows) > LISTED_ROWS:
                self._listed_rows.popitem(last=False)
        else:
            self._listed_rows.move_to_end(row)
        return found

    async def until_answered(
        self, action: str, call: Callable[[], Awaitable[T]], *, batch_id: str | None = None
    ) -> T:
        """``call()`` retried while the database is unavailable (see ``retrying.py``)."""
        return await self._durable(action, call, batch_id=batch_id)

    async def set_batch_state(
        self, batch_id: str, state: BatchState, *, at: datetime
    ) -> BatchRecord:
        """Move the batch to ``state``, waiting out a database outage; returns it as it is now."""
        return await self._durable(
            "update batch state",
            lambda: self._set_batch_state(batch_id, state, at=at),
            batch_id=batch_id,
        )

    async def _set_batch_state(
        self, batch_id: str, state: BatchState, *, at: datetime
    ) -> BatchRecord:
        """Move the batch to ``state``; returns the batch as it is now.

        ``started_at`` is set the first time it runs; ``finished_at`` is set by a final
        state and cleared when it goes back to queued/running. Coming back from a final
        state (retry, regenerate) also clears the cancel request, and going to queued that
        way puts the batch at the end of the FIFO.
        """
        async with self._write("update batch state") as connection:
            current = (
                await connection.execute(
                    select(_BATCHES.c.state, _BATCHES.c.started_at)
                    .where(_BATCHES.c.id == batch_id)
                    .with_for_update()
                )
            ).first()
            if current is None:
                raise NotFound(f"batch {batch_id} not found")
            values: dict[str, Any] = {
                "state": str(state),
                "finished_at": at if state.is_final else None,
            }
            if state is BatchState.RUNNING and current.started_at is None:
                values["started_at"] = at
            if BatchState(current.state).is_final and not state.is_final:
                values["cancel_requested"] = False
                values["stop_reason"] = None
                if state is BatchState.QUEUED:
                    values["queue_seq"] = self._next_queue_seq()
            row = (
                await connection.execute(
                    update(_BATCHES)
                    .where(_BATCHES.c.id == batch_id)
                    .values(values)
                    .returning(*_BATCHES.c)
                )
            ).one()
        return batch_record(row)

    async def start_batches(
        self, batch_ids: Sequence[str], *, at: datetime
    ) -> list[tuple[BatchRecord, list[SlideRecord], Look]]:
        """Queued batches become ``running`` (``started_at`` set the first time), in one
        transaction; each as it is now with its slides by page number and its look, in the
        order of ``batch_ids``. A batch deleted meanwhile is left out. An outage is waited out.

        Admission starts many batches at once (30 submits in a burst): one transaction of
        four statements instead of a read, a locked update and a look read per batch.
        """
        if not batch_ids:
            return []
        return await self._durable(
            "start batches", lambda: self._start_batches(list(batch_ids), at=at)
        )

    async def _start_batches(
        self, batch_ids: list[str], *, at: datetime
    ) -> list[tuple[BatchRecord, list[SlideRecord], Look]]:
        chosen = one_of(_BATCHES.c.id, batch_ids, postgres=self._postgres)
        started = (
            update(_BATCHES)
            .where(chosen)
            .values(
                state=str(BatchState.RUNNING),
                finished_at=None,
                started_at=func.coalesce(
                    _BATCHES.c.started_at, bindparam("at", at, type_=UTCDateTime())
                ),
            )
            .returning(*_BATCHES.c)
        )
        slides = (
            select(_SLIDES)
            .where(one_of(_SLIDES.c.batch_id, batch_ids, postgres=self._postgres))
            .order_by(_SLIDES.c.batch_id, _SLIDES.c.page_num, _SLIDES.c.key)
        )
        async with self._write("start batches") as connection:
            rows = {row.id: batch_record(row) for row in await connection.execute(started)}
            by_batch: dict[str, list[SlideRecord]] = {}
            for row in await connection.execute(slides):
                by_batch.setdefault(row.batch_id, []).append(slide_record(row))
            looks = await read_looks(connection, list(rows))
        return [
            (rows[i], by_batch.get(i, []), looks.get(i, Look())) for i in batch_ids if i in rows
        ]

    async def request_cancel(self, batch_id: str, *, reason: str | None = None) -> None:
        """Record that the batch should stop; the engine reads ``cancel_requested``.
        ``reason``: why, when it is not the user's cancel ("max_cost")."""
        values: dict[str, Any] = {"cancel_requested": True}
        if reason is not None:
            values["stop_reason"] = reason
        async with self._write("request cancel") as connection:
            result = await connection.execute(
                update(_BATCHES).where(_BATCHES.c.id == batch_id).values(values)
            )
        if result.rowcount == 0:
            raise NotFound(f"batch {batch_id} not found")

    async def clear_cancel(self, batch_id: str) -> None:
        """Forget a cancel request: slides were put back to work (retry, regenerate)."""
        async with self._write("clear cancel") as connection:
            await connection.execute(
                update(_BATCHES)
                .where(_BATCHES.c.id == batch_id)
                .values(cancel_requested=False, stop_reason=None)
            )

    async def set_max_cost(self, batch_id: str, max_cost: float | None) -> None:
        """Keep a new cost ceiling (USD) for the batch (a CLI re-run with ``--max-cost``)."""
        async with self._write("set max_cost") as connection:
            await connection.execute(
                update(_BATCHES).where(_BATCHES.c.id == batch_id).values(max_cost=max_cost)
            )

    async def unfinished_batches(self) -> list[BatchRecord]:
        """Queued and running batches, FIFO order (what a restart resumes)."""
        return await self._batches_in(_ACTIVE_BATCH_STATES, "list unfinished batches")

    async def queue_position(self, batch_id: str) -> int | None:
        """1-based place of a queued batch in the FIFO; ``None`` when it is not queued.

        One query (status polls of queued batches ask this each time).
        """
        queued = str(BatchState.QUEUED)
        ahead = _BATCHES.alias("ahead")
        before_it = (
            select(func.count())
            .where(ahead.c.state == queued, ahead.c.queue_seq < _BATCHES.c.queue_seq)
            .correlate(_BATCHES)
            .scalar_subquery()
        )
        query = select(_BATCHES.c.state, before_it).where(_BATCHES.c.id == batch_id)
        async with self._read("read queue position") as connection:
            mine = (await connection.execute(query)).first()
        if mine is None:
            raise NotFound(f"batch {batch_id} not found")
        return int(mine[1]) + 1 if mine.state == queued else None

    async def queue_positions(self) -> dict[str, int]:
        """Every queued batch's 1-based place in the FIFO, by id (one query, ids only)."""
        query = (
            select(_BATCHES.c.id)
            .where(_BATCHES.c.state == str(BatchState.QUEUED))
            .order_by(_BATCHES.c.queue_seq)
        )
        async with self._read("read queue positions") as connection:
            ids = (await connection.execute(query)).scalars().all()
        return {batch_id: place for place, batch_id in enumerate(ids, start=1)}

    async def queued_batches(self) -> list[BatchRecord]:
        """Batches waiting to run, first admitted first."""
        return await self._batches_in((str(BatchState.QUEUED),), "list queued batches")

    async def _batches_in(self, states: Sequence[str], action: str) -> list[BatchRecord]:
        query = (
            select(_BATCHES)
            .where(_BATCHES.c.state.in_(states))
            .order_by(_BATCHES.c.queue_seq, _BATCHES.c.created_at)
        )
        async with self._read(action) as connection:
            rows = (await connection.execute(query)).all()
        return [batch_record(r) for r in rows]

    async def recover_interrupted(self) -> list[BatchRecord]:
        """At start-up: slides left generating go back to pending; returns the queued and
        running batches in FIFO order.

        The attempt our own crash cut short is not counted: the upstream never refused it,
        so a crash loop cannot use up a slide's retry budget (the finished attempts still
        count, so the bound holds for real failures).
        """
        uncounted = case((_SLIDES.c.attempts > 0, _SLIDES.c.attempts - 1), else_=0)
        async with self._write("recover interrupted slides") as connection:
            await connection.execute(
                update(_SLIDES)
                .where(_SLIDES.c.state == str(SlideState.GENERATING))
                .values(state=str(SlideState.PENDING), started_at=None, attempts=uncounted)
            )
        return await self._batches_in(_ACTIVE_BATCH_STATES, "list unfinished batches")

    async def slides_in_flight(self) -> list[SlideRecord]:
        """Slides of unfinished batches whose last attempt started and did not finish.

        ``generating`` ones were cut short; ``pending`` ones with a start time are waiting
        for a retry. Start-up reconciles them against the image files on disk.
        """
        query = (
            select(_SLIDES)
            .join(_BATCHES, _BATCHES.c.id == _SLIDES.c.batch_id)
            .where(
                _BATCHES.c.state.in_(_ACTIVE_BATCH_STATES),
                _SLIDES.c.state.in_((str(SlideState.GENERATING), str(SlideState.PENDING))),
                _SLIDES.c.started_at.is_not(None),
            )
            .order_by(_SLIDES.c.batch_id, _SLIDES.c.key)
        )
        async with self._read("list slides in flight") as connection:
            rows = (await connection.execute(query)).all()
        return [slide_record(r) for r in rows]

    async def delete_batch(self, batch_id: str) -> None:
        """Remove the batch and (by cascade) its slides; ``NotFound`` if it is missing."""
        async with self._write("delete batch") as connection:
            result = await connection.execute(delete(_BATCHES).where(_BATCHES.c.id == batch_id))
        if result.rowcount == 0:
            raise NotFound(f"batch {batch_id} not found")

    async def batches_finished_before(self, cutoff: datetime) -> list[str]:
        """Ids of final batches that finished before ``cutoff`` (for cleanup)."""
        query = select(_BATCHES.c.id).where(
            _BATCHES.c.state.in_(_FINAL_BATCH_STATES),
            _BATCHES.c.finished_at < cutoff,
            # A batch a saved project shows stays as long as the project links it.
            _BATCHES.c.id.not_in(select(ProjectBatchRow.batch_id)),
        )
        async with self._read("list finished batches") as connection:
            return list((await connection.execute(query)).scalars())

    async def count_active(self, owner: str | None = None) -> dict[BatchState, int]:
        """How many batches are queued and running (``owner`` given: only theirs)."""
        query = (
            select(_BATCHES.c.state, func.count())
            .where(_BATCHES.c.state.in_(_ACTIVE_BATCH_STATES))
            .group_by(_BATCHES.c.state)
        )
        if owner is not None:
            query = query.where(_BATCHES.c.owner == owner)
        async with self._read("count active batches") as connection:
            rows = (await connection.execute(query)).all()
        counts = {BatchState.QUEUED: 0, BatchState.RUNNING: 0}
        counts.update({BatchState(state): int(n) for state, n in rows})
        return counts

    # --- slides -------------------------------------------------------------------------

    async def get_slides(self, batch_id: str) -> list[SlideRecord]:
        """Every slide of the batch by page number (empty list for an unknown batch)."""
        query = (
            select(_SLIDES)
            .where(_SLIDES.c.batch_id == batch_id)
            .order_by(_SLIDES.c.page_num, _SLIDES.c.key)
        )
        async with self._read("read slides") as connection:
            rows = (await connection.execute(query)).all()
        return [slide_record(r) for r in rows]

    async def slides_by_keys(self, batch_id: str, keys: Collection[int]) -> list[SlideRecord]:
        """The slides ``keys`` of the batch by page number (no query for no keys)."""
        if not keys:
            return []
        query = (
            select(_SLIDES)
            .where(
                _SLIDES.c.batch_id == batch_id,
                one_of(_SLIDES.c.key, sorted(keys), postgres=self._postgres),
            )
            .order_by(_SLIDES.c.page_num, _SLIDES.c.key)
        )
        async with self._read("read slides") as connection:
            rows = (await connection.execute(query)).all()
        return [slide_record(r) for r in rows]

    async def get_slide(self, batch_id: str, key: int) -> SlideRecord:
        """One slide, or ``NotFound``."""
        async with self._read("read slide") as connection:
            row = (await connection.execute(_one_slide(select(_SLIDES), batch_id, key))).first()
        if row is None:
            raise NotFound(f"slide {key} of batch {batch_id} not found")
        return slide_record(row)

    async def find_slide_key(self, batch_id: str, client_id: str) -> int:
        """The key of the slide the client calls ``client_id`` (the first, if repeated)."""
        if "\x00" in client_id or not _looks_like_batch_id(batch_id):
            raise NotFound(f"slide {client_id!r} not found in batch {batch_id!r}")
        query = (
            select(_SLIDES.c.key)
            .where(_SLIDES.c.batch_id == batch_id, _SLIDES.c.client_id == client_id)
            .order_by(_SLIDES.c.key)
            .limit(1)
        )
        async with self._read("find slide") as connection:
            key = (await connection.execute(query)).scalar()
        if key is None:
            raise NotFound(f"slide {client_id} of batch {batch_id} not found")
        return int(key)

    async def slide_counts(self, batch_id: str) -> dict[SlideState, int]:
        """How many of the batch's slides are in each state (every state present).

        The engine ends batches on these counts, so an outage is waited out.
        """
        return await self._durable(
            "count slides", lambda: self._slide_counts(batch_id), batch_id=batch_id
        )

    async def _slide_counts(self, batch_id: str) -> dict[SlideState, int]:
        query = (
            select(_SLIDES.c.state, func.count())
            .where(_SLIDES.c.batch_id == batch_id)
            .group_by(_SLIDES.c.state)
        )
        async with self._read("count slides") as connection:
            rows = (await connection.execute(query)).all()
        counts = dict.fromkeys(SlideState, 0)
        counts.update({SlideState(state): int(n) for state, n in rows})
        return counts

    async def mark_generating(
        self, batch_id: str, key: int, *, attempt: int, at: datetime
    ) -> SlideChange:
        """An attempt (``attempt`` counts paid attempts, 1-based) started at ``at``."""
        return await self._update_slide(
            batch_id,
            key,
            "mark slide generating",
            state=SlideState.GENERATING,
            attempts=attempt,
            started_at=at,
            finished_at=None,
        )

    async def mark_done(
        self,
        batch_id: str,
        key: int,
        *,
        image_file: str,
        generation_time: float,
        cost: float | None,
        placeholder: bool,
        at: datetime,
        warnings: tuple[str, ...] = (),
        estimated: bool = False,
    ) -> SlideChange:
        """The slide has its image (``placeholder``: a locally rendered stand-in;
        ``warnings``: what the image does not show as asked). ``cost`` (USD) becomes the
        slide's latest price and is added to its ``spent`` (every paid image counts), and a
        payment at ``at`` is kept for the daily spend. ``estimated``: ``cost`` is the
        model's price, not the provider's figure."""
        return await self._update_slide(
            batch_id,
            key,
            "mark slide done",
            paid=cost,
            state=SlideState.DONE,
            image_file=image_file,
            generation_time=generation_time,
            cost=cost,
            cost_estimated=estimated,
            placeholder=placeholder,
            warnings=warnings,
            error_message=None,
            finished_at=at,
        )

    async def mark_waiting(
        self, batch_id: str, key: int, *, message: str, attempts: int, requeues: int
    ) -> SlideChange:
        """Back to pending during a backoff; the last error is kept as a note."""
        return await self._update_slide(
            batch_id,
            key,
            "mark slide waiting",
            state=SlideState.PENDING,
            error_message=message,
            attempts=attempts,
            requeues=requeues,
        )

    async def mark_error(
        self, batch_id: str, key: int, *, message: str, at: datetime
    ) -> SlideChange:
        """The slide failed for good."""
        return await self._update_slide(
            batch_id,
            key,
            "mark slide failed",
            state=SlideState.ERROR,
            error_message=message,
            finished_at=at,
        )

    async def mark_dropped(
        self, batch_id: str, key: int, *, attempts: int, at: datetime
    ) -> SlideChange:
        """A slide marked generating whose request was never sent (its batch was cancelled
        first) ends cancelled; ``attempts`` is its paid attempts (that start not counted)."""
        return await self._update_slide(
            batch_id,
            key,
            "mark slide cancelled",
            state=SlideState.CANCELLED,
            attempts=attempts,
            finished_at=at,
        )

    async def mark_returned(self, batch_id: str, key: int, *, attempts: int) -> SlideChange:
        """A slide marked generating whose request was not sent and will not be soon (the
        process is stopping, or the upstream paused or parked) is pending again;
        ``attempts`` is its paid attempts (that start not counted), and no start is kept."""
        return await self._update_slide(
            batch_id,
            key,
            "mark slide pending again",
            state=SlideState.PENDING,
            attempts=attempts,
            started_at=None,
        )

    @property
    def writes_begun(self) -> int:
        """How many slide state writes (``mark_*``) have begun so far in this process; a
        read that ends at ``n`` cannot hold a write whose ``SlideChange.begun`` is above it."""
        return self._writes_begun

    async def _update_slide(
        self, batch_id: str, key: int, action: str, *, paid: float | None = None, **fields: Any
    ) -> SlideChange:
        """One slide's state change (``fields`` by ``SlideRecord`` name); an outage is waited
        out (the image may be paid for). Returns what it changed, as stored."""
        self._writes_begun += 1
        begun = self._writes_begun
        params = {"b_batch_id": batch_id, "b_key": key, **slide_columns(fields)}
        if paid is not None:
            params["paid"] = paid
        await self._durable(
            action,
            lambda: self._update_slide_once(batch_id, key, action, params),
            batch_id=batch_id,
        )
        return SlideChange(MappingProxyType(stored_fields(fields)), paid, begun)

    async def _update_slide_once(
        self, batch_id: str, key: int, action: str, params: dict[str, Any]
    ) -> None:
        with translated(action):
            rowcount = await self.group_commit.execute(params)
        if rowcount == 0:
            raise NotFound(f"slide {key} of batch {batch_id} not found")

    async def cancel_pending(self, batch_id: str, *, at: datetime) -> int:
        """Pending slides become cancelled (they never start); returns how many."""
        async with self._write("cancel pending slides") as connection:
            result = await connection.execute(
                update(_SLIDES)
                .where(_SLIDES.c.batch_id == batch_id, _SLIDES.c.state == str(SlideState.PENDING))
                .values(state=str(SlideState.CANCELLED), finished_at=at)
            )
        return int(result.rowcount)

    async def reset_for_retry(self, batch_id: str) -> list[SlideRecord]:
        """Failed and cancelled slides go back to pending with a fresh attempt budget."""
        retryable = (str(SlideState.ERROR), str(SlideState.CANCELLED))
        async with self._write("reset slides for retry") as connection:
            keys = list(
                (
                    await connection.execute(
                        select(_SLIDES.c.key)
                        .where(_SLIDES.c.batch_id == batch_id, _SLIDES.c.state.in_(retryable))
                        .with_for_update()
                    )
                ).scalars()
            )
            if not keys:
                return []
            chosen = (
                _SLIDES.c.batch_id == batch_id,
                one_of(_SLIDES.c.key, keys, postgres=self._postgres),
            )
            await connection.execute(update(_SLIDES).where(*chosen).values(fresh_slide()))
            rows = (
                await connection.execute(
                    select(_SLIDES).where(*chosen).order_by(_SLIDES.c.page_num, _SLIDES.c.key)
                )
            ).all()
        return [slide_record(r) for r in rows]

    async def reset_slide(
        self,
        batch_id: str,
        key: int,
        *,
        visual_desc: str | None,
        final_prompt: str,
        rounds: int = 0,
    ) -> SlideRecord:
        """Regenerate: the slide goes back to pending with a new prompt (and description).

        ``rounds``: candidates rounds still to make, this one counted (0: no candidate).
        ``Conflict`` while the slide is being generated; its old image file stays on disk
        until the batch is deleted (the new image gets a new name).
        """
        async with self._write("reset slide") as connection:
            state = (
                await connection.execute(
                    _one_slide(select(_SLIDES.c.state), batch_id, key).with_for_update()
                )
            ).scalar()
            if state is None:
                raise NotFound(f"slide {key} of batch {batch_id} not found")
            if state == str(SlideState.GENERATING):
                raise Conflict(f"slide {key} of batch {batch_id} is being generated")
            values = fresh_slide() | {"final_prompt": final_prompt, "rounds_left": rounds}
            if visual_desc is not None:
                values["visual_desc"] = visual_desc
            await connection.execute(_one_slide(update(_SLIDES), batch_id, key).values(values))
            await unchoose(connection, batch_id, key)  # its next image is no candidate yet
            row = (await connection.execute(_one_slide(select(_SLIDES), batch_id, key))).one()
        return slide_record(row)


async def _slides_present(connection: AsyncConnection, params: list[dict[str, Any]]) -> list[int]:
    """For each slide write in ``params``: 1 when its slide exists, else 0 (one query)."""
    pairs = [(p["b_batch_id"], p["b_key"]) for p in params]
    postgres = connection.dialect.name == "postgresql"
    query = select(_SLIDES.c.batch_id, _SLIDES.c.key).where(
        slide_pair_in(_SLIDES.c.batch_id, _SLIDES.c.key, pairs, postgres=postgres)
    )
    found = {(row.batch_id, row.key) for row in await connection.execute(query)}
    return [int(pair in found) for pair in pairs]


def _one_slide(statement: _Where, batch_id: str, key: int) -> _Where:
    return statement.where(_SLIDES.c.batch_id == batch_id, _SLIDES.c.key == key)


def _looks_like_batch_id(batch_id: str) -> bool:
    return len(batch_id) == 32 and all(c in "0123456789abcdef" for c in batch_id)
