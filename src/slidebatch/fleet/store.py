"""The fleet's bookkeeping in PostgreSQL: admission, claims with leases, fenced results, the end.

Every decision a single process used to make in memory is one short transaction here, so
any number of API and worker processes can share the database:

- admission: under a transaction-scoped advisory lock, the oldest queued batches start while
  fewer than ``BATCH_MAX_CONCURRENT`` run;
- a claim: the running batch served longest ago (``fleet_turn``) that has a claimable slide
  and is below its ``max_workers`` is locked with ``FOR UPDATE SKIP LOCKED`` (so claimers on
  other batches never wait) and gives its next slide (retries first, then page order); the
  slide becomes ``generating`` with a lease (``lease_owner``, ``lease_until``) and a new
  attempt number (``attempt_seq``, one more per claim, never reused);
- a result: written only ``WHERE attempt_seq = :mine AND state = 'generating'``, so a worker
  presumed dead (its lease expired, the slide claimed again) cannot overwrite a newer result;
- ``max_cost``: a claim that finds a batch's next image would pass its cap cancels the
  batch's pending slides instead (the single process's cost guard, decided under the
  batch's row lock, so no two workers both start the image that passes it);
- anchor mode: a batch's other slides are not claimed while its anchoring slide (stored
  with its look) is pending or being generated;
- a candidates round (``rounds_left``, written by regenerate): the transaction that stores
  the image keeps it as a candidate and, while rounds are left, puts the slide back to
  pending, so a slide is "done" only after its last round;
- a cancel: one transaction under the batch's row lock cancels the pending slides at once
  (the writes that may put a claim back to pending lock that row first); claims given up
  later (a worker left, its leases expired, it gave back a claim whose start was far) or
  granted by the gate after it (``still_wanted``, just before the send) end cancelled too,
  and whoever gives up a batch's last claim ends it;
- the end: whoever stores a batch's last result locks the batch row and moves it to its final
  state with a conditional ``UPDATE``; exactly one process sees the row change.

Times for leases and backoff come from the database's clock (``now()``), so workers on
machines with skewed clocks agree. Events go out with ``pg_notify`` inside the same
transaction (``fleet/notify.py`` listens), so nobody hears of a change that did not commit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import Result, Row, Table, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.cost import CostSource, UnitCost, cap_reached, next_price, room_for_next
from slidebatch.core.states import BatchState, SlideState, final_batch_state
from slidebatch.storage.candidates import add_candidate
from slidebatch.storage.errors import translated
from slidebatch.storage.rows import batch_record, encode_warnings, fresh_slide, slide_record
from slidebatch.storage.tables import SlideRow

EVENTS_CHANNEL = "slidebatch_events"  # payload: {"b": batch id, "k": [keys], "end": bool}
WORK_CHANNEL = "slidebatch_work"  # payload: a batch id; wakes idle workers
# Any constant works: it only has to be the same in every slidebatch process.
_ADMIT_LOCK_ID = 0x51_1DE_F1EE7

# Anchor mode: slide ``s`` waits while the batch's anchoring slide has not ended (the cover
# is drawn first and its image goes with every other slide; ``engine/looks.py``).
_HELD = """EXISTS (SELECT 1 FROM batch_looks l JOIN slides a
                     ON a.batch_id = l.batch_id AND a.key = l.anchor_key
                   WHERE l.batch_id = s.batch_id AND l.anchor_key <> s.key
                     AND a.state IN ('pending', 'generating'))"""
# A capped batch whose first image's cost is awaited (core.cost.images_in_flight_allowed):
# no image of it reported a cost, the price is not measured (:probe) and one is in flight.
_PROBING = """(CAST(:probe AS boolean) AND b.max_cost IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM slides c WHERE c.batch_id = b.id AND c.cost IS NOT NULL)
    AND EXISTS (SELECT 1 FROM slides f WHERE f.batch_id = b.id AND f.state = 'generating'))"""
_PICK_BATCH = text(
    f"""
    SELECT b.id FROM batches b
    WHERE b.state = 'running' AND NOT b.cancel_requested
      AND EXISTS (SELECT 1 FROM slides s WHERE s.batch_id = b.id AND s.state = 'pending'
                  AND (s.due_at IS NULL OR s.due_at <= now()) AND NOT {_HELD})
      AND (b.effective_workers IS NULL OR b.effective_workers >
           (SELECT count(*) FROM slides g WHERE g.batch_id = b.id AND g.state = 'generating'))
      AND NOT {_PROBING}
    ORDER BY b.fleet_turn, b.queue_seq
    LIMIT 1
    FOR UPDATE OF b SKIP LOCKED
    """
)
_PICK_SLIDE = text(
    f"""
    SELECT s.key FROM slides s
    WHERE s.batch_id = :b AND s.state = 'pending' AND (s.due_at IS NULL OR s.due_at <= now())
      AND NOT {_HELD}
    ORDER BY (s.attempts + s.requeues = 0), s.key
    LIMIT 1
    """
)
_TAKE_SLIDE = text(
    """
    UPDATE slides SET state = 'generating', attempt_seq = attempt_seq + 1,
        attempts = attempts + 1, lease_owner = :w, started_at = :at, finished_at = NULL,
        lease_until = now() + make_interval(secs => :lease), due_at = NULL
    WHERE batch_id = :b AND key = :k
    RETURNING *
    """
)
_SLIDES = cast(Table, SlideRow.__table__)
# Another candidates round follows the one being stored (``_keep_round``); a generating
# slide's rounds do not change (regenerate refuses it).
_ROUND_LEFT = (
    "EXISTS (SELECT 1 FROM slides r WHERE r.batch_id = :b AND r.key = :k AND r.rounds_left > 1)"
)
_UNKNOWN = UnitCost(None, CostSource.UNKNOWN)
_FENCE = "WHERE batch_id = :b AND key = :k AND attempt_seq = :seq AND state = 'generating'"
_RELEASED = "lease_owner = NULL, lease_until = NULL"
# A paid image of a fenced store, kept with when it was paid (the daily spend counts it).
_PAYMENT = text(
    "INSERT INTO slide_payments (batch_id, slide_key, cost, paid_at, estimated)"
    " VALUES (:b, :k, :cost, :at, false)"
)


@dataclass(frozen=True, slots=True)
class Claim:
    """A slide this worker holds: its batch, the slide as claimed, and the attempt number.

    ``slide.attempts`` already counts the attempt being made (like ``mark_generating``).
    """

    batch: BatchRecord
    slide: SlideRecord
    seq: int


@dataclass(frozen=True, slots=True)
class CostCapped:
    """A claim found ``batch_id``'s next image would pass its ``max_cost``: its ``cancelled``
    pending slides will not start (``spent`` so far, ``in_flight`` images still to be paid,
    the next one priced at ``unit_cost``)."""

    batch_id: str
    max_cost: float
    spent: float
    in_flight: int
    unit_cost: float | None
    cancelled: int


@dataclass(frozen=True, slots=True)
class Finished:
    """A batch this process moved to its final state (exactly one process gets it)."""

    batch: BatchRecord
    slides: tuple[SlideRecord, ...]
    counts: dict[SlideState, int]


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A cancel stored: the keys of the pending slides it ``dropped`` (now cancelled), and
    the batch's end when no claim of it was left (``finished``)."""

    dropped: tuple[int, ...]
    finished: Finished | None


class FleetStore:
    """The fleet's transactions on one PostgreSQL database."""

    def __init__(self, engine: AsyncEngine) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("a fleet needs PostgreSQL")
        self._engine = engine

    # --- admission ---------------------------------------------------------------------

    async def admit(self, max_running: int, *, at: datetime) -> list[BatchRecord]:
        """Start the oldest queued batches while fewer than ``max_running`` run; returns them."""
        with translated("admit batches"):
            async with self._engine.begin() as connection:
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADMIT_LOCK_ID}
                )
                running = (
                    await connection.execute(
                        text("SELECT count(*) FROM batches WHERE state = 'running'")
                    )
                ).scalar_one()
                free = max(0, max_running - int(running))
                if not free:
                    return []
                rows = (
                    await connection.execute(
                        text(
                            "UPDATE batches SET state = 'running',"
                            " started_at = coalesce(started_at, :at), finished_at = NULL"
                            " WHERE id IN (SELECT id FROM batches WHERE state = 'queued'"
                            " ORDER BY queue_seq, created_at LIMIT :free) RETURNING *"
                        ),
                        {"at": at, "free": free},
                    )
                ).all()
                for row in rows:
                    await _notify(connection, WORK_CHANNEL, row.id)
                    await _notify_event(connection, row.id, None)
        return sorted((batch_record(r) for r in rows), key=lambda b: b.created_at)

    # --- claims and leases ---------------------------------------------------------------

    async def _query(self, what: str, sql: str, **params: object) -> Result[Any]:
        """Run one read-only statement outside a transaction; the result is buffered, so it
        is read after the connection went back to the pool. Errors name ``what``."""
        with translated(what):
            async with self._engine.connect() as connection:
                return await connection.execute(text(sql), params)

    async def claimable(self) -> bool:
        """Whether some running batch has a slide a claim would take now (no lock taken)."""
        query = _PICK_BATCH.text.replace("FOR UPDATE OF b SKIP LOCKED", "")
        # A hint: a batch waiting for its probe's cost counts (the claim itself decides).
        return (await self._query("look for work", query, probe=False)).first() is not None

    async def next_due_in(self) -> float | None:
        """Seconds until the earliest slide backing off becomes claimable (None: none waits)."""
        value = (
            await self._query(
                "look for retries",
                "SELECT extract(epoch FROM min(s.due_at) - now()) FROM slides s"
                " JOIN batches b ON b.id = s.batch_id WHERE b.state = 'running'"
                " AND s.state = 'pending' AND s.due_at > now()",
            )
        ).scalar()
        return None if value is None else max(0.0, float(value))

    async def claim(
        self, worker: str, *, lease: float, at: datetime, unit: UnitCost = _UNKNOWN
    ) -> Claim | CostCapped | None:
        """Take the next slide in fair order with a lease of ``lease`` seconds (None: no work).

        A batch whose next image would pass its ``max_cost`` (``unit``: the price of one
        image as this process knows it) gives none: its pending slides are cancelled instead
        (``CostCapped``). The batch row is locked, so no other claim starts one meanwhile.
        """
        with translated("claim a slide"):
            async with self._engine.begin() as connection:
                probe = unit.source in (CostSource.CONFIGURED, CostSource.UNKNOWN)
                batch_id = (await connection.execute(_PICK_BATCH, {"probe": probe})).scalar()
                if batch_id is None:
                    return None
                capped = await _cap_reached(connection, batch_id, unit, at)
                if isinstance(capped, CostCapped):
                    return capped
                if capped is _WAIT:
                    return None
                key = (await connection.execute(_PICK_SLIDE, {"b": batch_id})).scalar()
                if key is None:  # the batch's last claimable slide went meanwhile
                    return None
                params = {"b": batch_id, "k": key, "w": worker, "lease": lease, "at": at}
                slide = (await connection.execute(_TAKE_SLIDE, params)).one()
                batch = (
                    await connection.execute(
                        text(
                            "UPDATE batches SET fleet_turn = nextval('fleet_turn_seq')"
                            " WHERE id = :b RETURNING *"
                        ),
                        {"b": batch_id},
                    )
                ).one()
                await _notify_event(connection, batch_id, [key])
        return Claim(batch_record(batch), slide_record(slide), int(slide.attempt_seq))

    async def heartbeat(self, worker: str, *, lease: float, host: str, pid: int) -> int:
        """Extend every lease ``worker`` holds by ``lease`` seconds; returns how many."""
        with translated("heartbeat"):
            async with self._engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO fleet_workers (name, host, pid, started_at, beat_at)"
                        " VALUES (:w, :host, :pid, now(), now())"
                        " ON CONFLICT (name) DO UPDATE SET beat_at = now()"
                    ),
                    {"w": worker, "host": host, "pid": pid},
                )
                result = await connection.execute(
                    text(
                        "UPDATE slides SET lease_until = now() + make_interval(secs => :lease)"
                        " WHERE lease_owner = :w AND state = 'generating'"
                    ),
                    {"w": worker, "lease": lease},
                )
        return int(result.rowcount)

    async def leave(self, worker: str, *, at: datetime) -> Released:
        """A worker stops cleanly: the slides it still holds go back to pending at once (the
        attempt cut short not counted) and its row goes. A slide of a batch being cancelled
        ends cancelled instead, and such a batch ends (``at``: the wall time)."""
        with translated("leave the fleet"):
            async with self._engine.begin() as connection:
                released = await _release(connection, "s.lease_owner = :w", {"w": worker}, at=at)
                await connection.execute(
                    text("DELETE FROM fleet_workers WHERE name = :w"), {"w": worker}
                )
        return released

    async def give_back(self, claim: Claim, worker: str, *, at: datetime) -> Released:
        """Put one claim of ``worker`` back to pending before anything was sent (its start
        is far: a pause, a park, a full window), the attempt not counted, as ``leave`` does
        (a batch being cancelled: the slide ends cancelled, and the batch may end, ``at``
        its wall time).

        Fenced on ``worker`` and the claim's attempt number: a slide claimed again
        meanwhile (the lease expired and was reaped) is left alone and ``slides`` is empty.
        """
        which = "s.batch_id = :b AND s.key = :k AND s.attempt_seq = :seq AND s.lease_owner = :w"
        params = {"b": claim.batch.id, "k": claim.slide.key, "seq": claim.seq, "w": worker}
        with translated("give a claim back"):
            async with self._engine.begin() as connection:
                return await _release(connection, which, params, at=at)

    async def reap(self, *, at: datetime) -> Released:
        """Slides whose lease expired go back to pending (a cancelled batch's: cancelled,
        and the batch ends, ``at`` its wall time).

        The attempt cut short is not counted (as after a single process's crash): the
        upstream never refused it, so dead workers cannot use up a slide's retry budget.
        """
        with translated("reap expired leases"):
            async with self._engine.begin() as connection:
                return await _release(connection, "s.lease_until < now()", {}, at=at)

    async def prune_workers(self, *, silent_for: float) -> list[str]:
        """Forget the workers whose last heartbeat is older than ``silent_for`` seconds (a
        killed worker never leaves: its row would stay forever); returns their names."""
        with translated("prune dead workers"):
            async with self._engine.begin() as connection:
                rows = await connection.execute(
                    text(
                        "DELETE FROM fleet_workers"
                        " WHERE beat_at < now() - make_interval(secs => :s) RETURNING name"
                    ),
                    {"s": silent_for},
                )
                return sorted(str(name) for name in rows.scalars())

    async def still_wanted(self, claim: Claim, *, at: datetime) -> Wanted:
        """Just before the request leaves: is the claim still ours and its batch neither
        deleted nor being cancelled? A cancelled batch's slide ends cancelled here (and the
        batch ends with it when nothing else of it is pending or generating)."""
        where = {"b": claim.batch.id, "k": claim.slide.key, "seq": claim.seq}
        with translated("check a claim"):
            async with self._engine.begin() as connection:
                found = (
                    await connection.execute(
                        text(
                            "SELECT b.cancel_requested, b.max_cost,"
                            f" EXISTS (SELECT 1 FROM slides {_FENCE}) AS held"
                            " FROM batches b WHERE b.id = :b"
                        ),
                        where,
                    )
                ).first()
                if found is None or not found.held:  # deleted, or the claim was taken over
                    return Wanted(False)
                # A batch at its max_cost was stopped by a claim (``_cap_reached``), which
                # counted this one in flight: it is paid for within the cap, so it goes. (A
                # user's cancel of a batch with a max_cost looks the same here: its claims
                # still go, as before.)
                if not found.cancel_requested or found.max_cost is not None:
                    return Wanted(True)
                # Batch row first, as claims and deletes lock (a running batch's is not
                # locked on this path: claims skip locked batches).
                await connection.execute(
                    text("SELECT 1 FROM batches WHERE id = :b FOR UPDATE"), {"b": claim.batch.id}
                )
                row = (
                    await connection.execute(
                        text(
                            "UPDATE slides SET state = 'cancelled', finished_at = :at,"
                            f" attempts = greatest(attempts - 1, 0), {_RELEASED}"
                            f" {_FENCE} RETURNING key"
                        ),
                        where | {"at": at},
                    )
                ).first()
                if row is None:
                    return Wanted(False)
                await _notify_event(connection, claim.batch.id, [claim.slide.key])
                finished = await _finish_locked(connection, claim.batch.id, at)
        return Wanted(False, cancelled=True, finished=finished)

    # --- fenced results --------------------------------------------------------------------

    async def done(self, claim: Claim, values: DoneValues) -> bool:
        """Store the image's row; False when the attempt was fenced off (or the batch gone)."""
        params = {
            "image_file": values.image_file,
            "generation_time": values.generation_time,
            "cost": values.cost,
            "placeholder": values.placeholder,
            "warnings": encode_warnings(values.warnings),
            "at": values.at,
        }
        sets = (
            "state = 'done', image_file = :image_file, generation_time = :generation_time,"
            " cost = :cost, placeholder = :placeholder, warnings = :warnings,"
            " error_message = NULL, finished_at = :at"
        )
        if values.cost is not None:  # every paid image adds to the slide's spend
            sets += ", spent = COALESCE(spent, 0) + :cost"
        stored = await self._fenced(
            claim,
            sets,
            params,
            "store a slide's image",
            then=partial(_after_done, values=values),
            requeue_if=_ROUND_LEFT,
        )
        if not stored and values.cost:
            await self._paid_anyway(claim, values)
        return stored

    async def _paid_anyway(self, claim: Claim, values: DoneValues) -> None:
        """An image paid for but fenced off (this worker was presumed dead: the slide was
        reaped, or claimed again): it is not the slide's image, but the upstream billed it,
        so it adds to the slide's spend and the payments (the batch's cost, the daily spend,
        a key's quota and ``max_cost`` see it). Nothing when the batch was deleted, and
        nothing for a write of a result already stored (this attempt's row says done: a
        retried commit), which was counted then."""
        where = {"b": claim.batch.id, "k": claim.slide.key}
        with translated("count a fenced image's cost"):
            async with self._engine.begin() as connection:
                found = await connection.execute(
                    text(
                        "UPDATE slides SET spent = COALESCE(spent, 0) + :cost"
                        " WHERE batch_id = :b AND key = :k"
                        " AND NOT (attempt_seq = :seq AND state = 'done')"
                    ),
                    where | {"cost": values.cost, "seq": claim.seq},
                )
                if found.rowcount:
                    await connection.execute(
                        _PAYMENT, where | {"cost": values.cost, "at": values.at}
                    )

    async def failed(self, claim: Claim, *, message: str, at: datetime) -> bool:
        """The slide failed for good (a candidates round ends the rounds); False if fenced."""
        sets = "state = 'error', error_message = :message, finished_at = :at, rounds_left = 0"
        return await self._fenced(claim, sets, {"message": message, "at": at}, "fail a slide")

    async def waiting(
        self, claim: Claim, *, message: str, attempts: int, requeues: int, delay: float
    ) -> bool:
        """Back to pending, claimable again after ``delay`` s (no slot held); False if fenced."""
        # A batch cancelled meanwhile: the slide ends cancelled instead of waiting.
        sets = (
            "state = CASE WHEN (SELECT cancel_requested FROM batches WHERE id = :b)"
            " THEN 'cancelled' ELSE 'pending' END, error_message = :message,"
            " attempts = :attempts, requeues = :requeues,"
            " due_at = now() + make_interval(secs => :delay)"
        )
        params = {"message": message, "attempts": attempts, "requeues": requeues, "delay": delay}
        return await self._fenced(
            claim, sets, params, "put a slide back", wake=True, requeue_if="true"
        )

    async def _fenced(
        self,
        claim: Claim,
        sets: str,
        params: dict[str, Any],
        action: str,
        *,
        wake: bool = False,
        then: _Then | None = None,
        requeue_if: str | None = None,
    ) -> bool:
        """Write ``sets`` if the claim still holds; ``then`` runs in the same transaction
        with the written row (True from it: the slide is claimable again, wake workers).

        ``requeue_if``: when this SQL condition holds, the write may put the slide back to
        pending unless its batch is being cancelled. The batch row is share-locked first
        (batch before slide, as everywhere), so the write reads ``cancel_requested`` after
        any cancel in progress committed, and a cancel that comes later waits for it and
        finds the slide pending (``_release``).
        """
        where = {"b": claim.batch.id, "k": claim.slide.key, "seq": claim.seq}
        with translated(action):
            async with self._engine.begin() as connection:
                if requeue_if is not None:
                    await connection.execute(
                        text(f"SELECT 1 FROM batches WHERE id = :b AND {requeue_if} FOR SHARE"),
                        where,
                    )
                row = (
                    await connection.execute(
                        text(f"UPDATE slides SET {sets}, {_RELEASED} {_FENCE} RETURNING *"),
                        params | where,
                    )
                ).first()
                if row is not None:
                    if then is not None and await then(connection, row):
                        wake = True
                    await _notify_event(connection, claim.batch.id, [claim.slide.key])
                    if wake:
                        await _notify(connection, WORK_CHANNEL, claim.batch.id)
        return row is not None

    # --- a cancel and the end of a batch ----------------------------------------------------

    async def cancel(
        self, batch_id: str, *, reason: str | None = None, at: datetime
    ) -> Cancelled | None:
        """Cancel the batch in one transaction: ``cancel_requested`` (``reason``: its
        ``stop_reason``), its pending slides cancelled, and its end when no claim is left;
        None when it was gone or had ended. The batch row is locked first (``FOR NO KEY
        UPDATE``, as ``_release``), so a claim put back meanwhile (``_release`` and the
        fenced writes lock it too) is either seen pending here or sees the cancel; every
        process hears of the dropped slides before the end."""
        with translated("cancel a batch"):
            async with self._engine.begin() as connection:
                state = (
                    await connection.execute(
                        text("SELECT state FROM batches WHERE id = :b FOR NO KEY UPDATE"),
                        {"b": batch_id},
                    )
                ).scalar()
                if state is None or BatchState(state).is_final:
                    return None
                await connection.execute(
                    text(
                        "UPDATE batches SET cancel_requested = true,"
                        " stop_reason = coalesce(:reason, stop_reason) WHERE id = :b"
                    ),
                    {"b": batch_id, "reason": reason},
                )
                keys = await _cancel_pending(connection, batch_id, at)
                await _notify_event(connection, batch_id, keys)
                finished = await _finish_locked(connection, batch_id, at)
        return Cancelled(tuple(keys), finished)

    async def finish_if_done(self, batch_id: str, *, at: datetime) -> Finished | None:
        """End the batch if no slide of it is pending or generating; only one caller gets it."""
        with translated("finish a batch"):
            async with self._engine.begin() as connection:
                return await _finish_locked(connection, batch_id, at)

    async def ended_batches(self) -> list[str]:
        """Running batches with no slide pending or generating: their end was not stored
        (the worker that stored the last result died before it could end them)."""
        rows = await self._query(
            "look for ended batches",
            "SELECT id FROM batches b WHERE state = 'running' AND NOT EXISTS"
            " (SELECT 1 FROM slides s WHERE s.batch_id = b.id"
            "  AND s.state IN ('pending', 'generating'))",
        )
        return list(rows.scalars())

    async def stalled_cancels(self) -> list[str]:
        """Running batches being cancelled that still have pending slides: no worker claims
        a slide of such a batch, so only a new ``cancel`` ends them. A claim put back while
        a cancel ran, before both locked the batch row, left them so (a retry between its
        reset and its clearing of the cancel looks the same for a moment: callers act on a
        batch seen by two looks in a row)."""
        rows = await self._query(
            "look for stalled cancels",
            "SELECT id FROM batches b WHERE state = 'running' AND cancel_requested AND EXISTS"
            " (SELECT 1 FROM slides s WHERE s.batch_id = b.id AND s.state = 'pending')"
            " ORDER BY id",
        )
        return list(rows.scalars())

    async def announce(self, batch_id: str, keys: Sequence[int] | None, *, work: bool) -> None:
        """Tell every process that ``batch_id`` changed (and wake workers when ``work``)."""
        with translated("announce a change"):
            async with self._engine.begin() as connection:
                await _notify_event(connection, batch_id, keys)
                if work:
                    await _notify(connection, WORK_CHANNEL, batch_id)

    async def announce_gone(self, batch_id: str) -> None:
        """Tell every process that ``batch_id`` was deleted (streams end, waiters wake)."""
        with translated("announce a deletion"):
            async with self._engine.begin() as connection:
                await _notify_event(connection, batch_id, None, end=True)

    async def fleet_figures(self, *, lease: float) -> tuple[int, int]:
        """(workers that beat within ``lease`` seconds, slides being generated), fleet-wide."""
        row = (
            await self._query(
                "read fleet figures",
                "SELECT (SELECT count(*) FROM fleet_workers"
                "   WHERE beat_at >= now() - make_interval(secs => :lease)) AS workers,"
                " (SELECT count(*) FROM slides WHERE state = 'generating') AS generating",
                lease=lease,
            )
        ).one()
        return int(row.workers), int(row.generating)

    async def fleet_health(self, *, alive_within: float) -> FleetHealth:
        """The fleet as ``/readyz`` shows it: workers whose heartbeat is younger than
        ``alive_within`` seconds, batches queued or running, slides claimed and, of those,
        slides whose lease has ended (nobody renewed it)."""
        row = (
            await self._query(
                "read fleet health",
                "SELECT (SELECT count(*) FROM fleet_workers"
                "   WHERE beat_at >= now() - make_interval(secs => :alive)) AS workers,"
                " (SELECT count(*) FROM batches WHERE state IN ('queued', 'running')) AS open,"
                " (SELECT count(*) FROM slides WHERE state = 'generating') AS generating,"
                " (SELECT count(*) FROM slides WHERE state = 'generating'"
                "   AND lease_until < now()) AS overdue",
                alive=alive_within,
            )
        ).one()
        return FleetHealth(
            alive_within, int(row.workers), int(row.open), int(row.generating), int(row.overdue)
        )

    async def lease_figures(self, worker: str) -> LeaseFigures:
        """This worker's leases now and its last heartbeat's age (for ``/readyz``)."""
        row = (
            await self._query(
                "read lease figures",
                "SELECT (SELECT count(*) FROM slides WHERE lease_owner = :w"
                "   AND state = 'generating') AS held,"
                " (SELECT count(*) FROM slides WHERE lease_owner = :w"
                "   AND state = 'generating' AND lease_until < now()) AS expired,"
                " (SELECT extract(epoch FROM now() - beat_at) FROM fleet_workers"
                "   WHERE name = :w) AS beat_age",
                w=worker,
            )
        ).one()
        age = None if row.beat_age is None else float(row.beat_age)
        return LeaseFigures(int(row.held), int(row.expired), age)


@dataclass(frozen=True, slots=True)
class FleetHealth:
    """Fleet-wide figures for ``/readyz`` (``FleetStore.fleet_health``); ``alive_within``:
    the heartbeat age (seconds) under which a worker counts as alive."""

    alive_within: float
    workers_alive: int
    batches_open: int  # queued or running: work that needs a worker
    slides_generating: int
    slides_overdue: int  # generating, lease ended: their worker is gone

    @property
    def stalled(self) -> bool:
        """Work waits and no worker is alive to do it."""
        return self.batches_open > 0 and self.workers_alive == 0


@dataclass(frozen=True, slots=True)
class Released:
    """Claims given up (a worker left, leases expired, a claim given back): ``slides``
    (batch, key) went back to pending, or ended cancelled when their batch was being
    cancelled (``cancelled``); ``finished``: the cancelled batches this ended."""

    slides: tuple[tuple[str, int], ...]
    cancelled: tuple[tuple[str, int], ...] = ()
    finished: tuple[Finished, ...] = ()


@dataclass(frozen=True, slots=True)
class Wanted:
    """``still_wanted``'s answer: send (``wanted``) or not; ``cancelled``: the slide ended
    cancelled here; ``finished``: its batch ended with it."""

    wanted: bool
    cancelled: bool = False
    finished: Finished | None = None


@dataclass(frozen=True, slots=True)
class DoneValues:
    """What a successful attempt stores (``at``: the wall time it finished)."""

    image_file: str
    generation_time: float
    cost: float | None
    placeholder: bool
    warnings: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class LeaseFigures:
    """A worker's leases: held now, held past their end, seconds since its last heartbeat."""

    held: int
    expired: int
    beat_age: float | None


_WAIT = object()  # _cap_reached: nothing may start yet, but the cap is not reached


async def _cap_reached(
    connection: AsyncConnection, batch_id: str, unit: UnitCost, at: datetime
) -> CostCapped | object | None:
    """Cancel the batch's pending slides if one more image would pass its ``max_cost``
    (``core/cost.room_for_next``, the cost guard's decision); the caller locked the batch."""
    max_cost = (
        await connection.execute(
            text("SELECT max_cost FROM batches WHERE id = :b"), {"b": batch_id}
        )
    ).scalar()
    if max_cost is None:
        return None
    slides = (
        await connection.execute(
            text("SELECT state, spent, cost FROM slides WHERE batch_id = :b"), {"b": batch_id}
        )
    ).all()
    in_flight = sum(1 for s in slides if s.state == "generating")
    spends, prices = [s.spent for s in slides], [s.cost for s in slides]
    if room_for_next(max_cost, spends, prices, in_flight, unit):
        return None
    if not cap_reached(max_cost, spends, prices, in_flight, unit):
        return _WAIT  # the probe's cost is awaited: no claim, no cancel
    await connection.execute(
        text("UPDATE batches SET cancel_requested = true, stop_reason = 'max_cost' WHERE id = :b"),
        {"b": batch_id},
    )
    keys = await _cancel_pending(connection, batch_id, at)
    await _notify_event(connection, batch_id, keys)
    paid = sum(c for c in spends if c is not None)
    price = next_price(prices, unit).per_image
    return CostCapped(batch_id, float(max_cost), paid, in_flight, price, len(keys))


async def _cancel_pending(connection: AsyncConnection, batch_id: str, at: datetime) -> list[int]:
    """The batch's pending slides become cancelled (the caller locked the batch row)."""
    keys = await connection.execute(
        text(
            "UPDATE slides SET state = 'cancelled', finished_at = :at"
            " WHERE batch_id = :b AND state = 'pending' RETURNING key"
        ),
        {"b": batch_id, "at": at},
    )
    return [int(k) for k in keys.scalars()]


async def _release(
    connection: AsyncConnection, which: str, params: dict[str, Any], *, at: datetime
) -> Released:
    """Give up the generating slides ``which`` selects (a condition on ``s``): back to
    pending, or cancelled when their batch is being cancelled; such a batch then ends as a
    cancel with no claims left ends it. Batch rows are locked before slide rows (the order
    claims, cancels and deletes take), so this never deadlocks with them.

    Every batch concerned is locked, not only those being cancelled: ``cancel_requested``
    is then read after any cancel in progress committed (READ COMMITTED gives the next
    statement a new snapshot), and a cancel that comes later waits for this write and finds
    the slide pending. Unlocked, a cancel could commit between this statement's read and
    its commit: the slide went back to pending after the cancel had dropped the pending
    ones, no worker claims a slide of a batch being cancelled, and the batch never ended.

    ``FOR NO KEY UPDATE`` (the lock an ``UPDATE`` of the row takes), not ``FOR UPDATE``:
    a paid result being stored for a slide whose lease just expired holds that slide's row
    and then key-share-locks the batch row (its payment's foreign key). ``FOR UPDATE``
    would make it wait for this lock while this release waits for the slide's row."""
    await connection.execute(
        text(
            "SELECT b.id FROM batches b WHERE b.id IN"
            f" (SELECT s.batch_id FROM slides s WHERE s.state = 'generating' AND {which})"
            " ORDER BY b.id FOR NO KEY UPDATE OF b"
        ),
        params,
    )
    rows = (
        await connection.execute(
            text(
                "UPDATE slides s SET state = CASE WHEN b.cancel_requested THEN 'cancelled'"
                " ELSE 'pending' END, started_at = CASE WHEN b.cancel_requested"
                " THEN s.started_at END, finished_at = CASE WHEN b.cancel_requested"
                " THEN CAST(:at AS timestamptz) END,"
                f" attempts = greatest(s.attempts - 1, 0), {_RELEASED}, due_at = NULL"
                f" FROM batches b WHERE b.id = s.batch_id AND s.state = 'generating'"
                f" AND {which} RETURNING s.batch_id, s.key, s.state"
            ),
            params | {"at": at},
        )
    ).all()
    finished: list[Finished] = []
    for batch_id in sorted({r.batch_id for r in rows}):
        keys = [int(r.key) for r in rows if r.batch_id == batch_id]
        await _notify_event(connection, batch_id, keys)
        if any(r.state == "pending" for r in rows if r.batch_id == batch_id):
            await _notify(connection, WORK_CHANNEL, batch_id)
        else:
            ended = await _finish_locked(connection, batch_id, at)
            if ended is not None:
                finished.append(ended)
    slides = tuple((str(r.batch_id), int(r.key)) for r in rows)
    cancelled = tuple((str(r.batch_id), int(r.key)) for r in rows if r.state == "cancelled")
    return Released(slides, cancelled, tuple(finished))


async def _finish_locked(
    connection: AsyncConnection, batch_id: str, at: datetime
) -> Finished | None:
    """End the batch if no slide of it is pending or generating (locks its row first)."""
    batch = (
        await connection.execute(
            text("SELECT state, cancel_requested FROM batches WHERE id = :b FOR UPDATE"),
            {"b": batch_id},
        )
    ).first()
    if batch is None or BatchState(batch.state).is_final:
        return None
    counts = await _counts(connection, batch_id)
    if counts[SlideState.PENDING] or counts[SlideState.GENERATING]:
        return None
    final = final_batch_state(counts, cancelled=bool(batch.cancel_requested))
    row = (
        await connection.execute(
            text("UPDATE batches SET state = :s, finished_at = :at WHERE id = :b RETURNING *"),
            {"b": batch_id, "s": str(final), "at": at},
        )
    ).one()
    slides = (
        await connection.execute(
            text("SELECT * FROM slides WHERE batch_id = :b ORDER BY page_num, key"),
            {"b": batch_id},
        )
    ).all()
    await _notify_event(connection, batch_id, None, end=True)
    return Finished(batch_record(row), tuple(slide_record(s) for s in slides), counts)


_Then = Callable[[AsyncConnection, Row[Any]], Awaitable[bool]]


async def _after_done(connection: AsyncConnection, slide: Row[Any], *, values: DoneValues) -> bool:
    """The image is stored: its payment is kept with when it was paid (the daily spend; a
    free image pays nothing), then a candidates round goes on (``_keep_round``)."""
    if values.cost:
        payment = {"b": str(slide.batch_id), "k": int(slide.key), "cost": values.cost}
        await connection.execute(_PAYMENT, payment | {"at": values.at})
    return await _keep_round(connection, slide, at=values.at)


async def _keep_round(connection: AsyncConnection, slide: Row[Any], *, at: datetime) -> bool:
    """A candidates round ended done: its image becomes a candidate, and while rounds are
    left the slide goes straight back to pending (True), in the transaction that stored the
    image, so the slide's "done" is heard only once every candidate is listed."""
    if slide.rounds_left < 1:
        return False
    batch_id, key = str(slide.batch_id), int(slide.key)
    await add_candidate(connection, batch_id, key, str(slide.image_file), at)
    cancelled = (
        await connection.execute(
            text("SELECT cancel_requested FROM batches WHERE id = :b"), {"b": batch_id}
        )
    ).scalar()
    again = slide.rounds_left > 1 and not cancelled
    values = fresh_slide() | {"due_at": None} if again else {}
    await connection.execute(
        update(_SLIDES)
        .where(_SLIDES.c.batch_id == batch_id, _SLIDES.c.key == key)
        .values(values | {"rounds_left": slide.rounds_left - 1 if again else 0})
    )
    return again


async def _counts(connection: AsyncConnection, batch_id: str) -> dict[SlideState, int]:
    rows = (
        await connection.execute(
            text("SELECT state, count(*) AS n FROM slides WHERE batch_id = :b GROUP BY state"),
            {"b": batch_id},
        )
    ).all()
    counts = dict.fromkeys(SlideState, 0)
    counts.update({SlideState(r.state): int(r.n) for r in rows})
    return counts


async def _notify(connection: AsyncConnection, channel: str, payload: str) -> None:
    await connection.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})


async def _notify_event(
    connection: AsyncConnection, batch_id: str, keys: Sequence[int] | None, *, end: bool = False
) -> None:
    payload = json.dumps({"b": batch_id, "k": None if keys is None else list(keys), "end": end})
    await _notify(connection, EVENTS_CHANNEL, payload)
