"""The fleet's gate: one ``RateGate`` per upstream rate scope, shared through PostgreSQL.

Every worker process opens a ``PgGate`` on the same scope (``open_pg_gate``); together
they never start more than the scope's limit, because every decision is made on the one
state of the scope, in the database:

* **One decision at a time.** The scope's row in ``gate_scopes`` holds the whole
  ``GateCore`` (the sliding window of starts, AIMD, learned limit and window, skew
  margin, pauses and parks) as JSON. A decision locks the row (``SELECT ... FOR UPDATE``),
  loads the core, asks it exactly what the in-memory gate asks it, and writes it back in
  the same transaction. A 429 seen by one worker pauses and teaches all of them. The
  lock is held for three statements and the commit (``gate_rows``: lock the row; count
  the live leases, reading the clock; write the leases, the state and the NOTIFY in one
  statement), since every other worker's next start waits on it.
* **One clock.** Times in the database are *fleet seconds*: the database server's clock
  (``clock_timestamp()``, epoch seconds), read inside each locked transaction once the
  lock is granted, so workers on machines whose clocks disagree still agree on the
  window. The Protocol's times (``park(until)``, ``stats()``) stay on the worker's own
  clock (the dispatcher's); the gate converts with the offset its recent rounds bound
  (``gate_timing.py``: never early). Tests inject one shared ``fleet_clock`` instead.
* **A start counts when it is sent.** A round records each start at the instant its slot
  frees, which may lie a little ahead: a waiter begins its round a *lead* (twice its
  slowest recent round) before the next slot frees, and the permit is handed out at that
  instant. (A start recorded at the lock but sent after the commit reached the upstream
  later by a different amount each time, and the upstream answered 429 at window edges.)
  A permit that would leave late all the same (a round slower than the lead, a busy
  event loop, the claim's check before ``confirm``) is counted again from the instant it
  leaves by a round of its own, under the row lock, *before* it leaves (``_clear``): from
  a report written after the send, another worker deciding in between took its slot as
  first counted, and both met the upstream in one slot.
* **A hold stops what has not left.** A permit handed out, but whose request has not left
  (the 'generating' write, the claim's check), is cleared again by ``confirm`` once a hold
  was heard of (this process's 429 or park, or another worker's: ``NOTIFY
  slidebatch_gate_hold``): held, its start is given back and decided again.
* **In flight = live leases.** Each start inserts a row in ``gate_permits`` that expires
  ``lease_seconds`` later; the holder renews its leases every third of that while the
  requests run and deletes each when its outcome is reported. Expired leases do not count
  (and are deleted by the next decision), so a killed worker's slots free themselves
  within ``lease_seconds``. The in-flight cap's AIMD is shared like the rest.
* **No hot polling.** One waiter per process talks to the database at a time (the others
  queue on a local lock, FIFO), and one round starts as many as the process has waiting
  (an opening burst is one transaction). It sleeps until a lead before the next start the
  window allows, or until the soonest lease expires when the cap is full, and wakes early on a
  NOTIFY (``LISTEN slidebatch_gate``, payload the scope) that a round sends at commit when
  its outcomes brought a start nearer (a 429 or a park only delays: no NOTIFY).
* **Synchronous calls.** Permit outcomes and ``park`` are queued (``gate_reports.py``),
  applied to the next decision of this worker and flushed by a background task at once;
  ``stats()`` reads the snapshot of the last round (fleet-wide window, in-flight and
  limits; ``waiting`` and the latencies are this process's).

While the database cannot be reached, ``acquire`` waits and retries (nothing starts that
the fleet cannot count); it logs ``gate_database_unavailable``.

Use::

    gate = await open_pg_gate(engine, scope.key, config, clock=clock, log=log)
    try:
        ...  # Dispatcher(gate=gate, ...)
    finally:
        await gate.aclose()

(Over 500 lines: the waiting, the rounds and the three background tasks share the queued
reports, the snapshot and the local lock of one ``PgGate``; the pure parts are apart:
``gate_rows`` the SQL, ``gate_state`` the codec, ``gate_reports`` the outcomes,
``gate_timing`` the offset and the lead.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import socket
from collections import deque
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slidebatch.errors import ProviderError
from slidebatch.fleet import gate_reports
from slidebatch.fleet.gate_reports import Report
from slidebatch.fleet.gate_state import StateMismatch, config_text, decode, encode
from slidebatch.fleet.gate_timing import LATE_SHARE, GateTiming
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.clock import Clock, SystemClock, first_of
from slidebatch.scheduler.gate import EPSILON, LATENCY_SAMPLES
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.scheduler.gate_core import GateCore
from slidebatch.scheduler.rate_gate import GateStats
from slidebatch.storage import gate_rows
from slidebatch.storage.errors import StorageUnavailable, translated

__all__ = ["DEFAULT_LEASE_SECONDS", "PgGate", "PgPermit", "open_pg_gate"]

DEFAULT_LEASE_SECONDS = 15.0
_RETRY_FIRST = 0.5  # seconds before retrying a round the database refused; doubled...
_RETRY_MOST = 5.0  # ...up to this


@dataclasses.dataclass(frozen=True, slots=True)
class _Round:
    """What one locked transaction decided."""

    now: float  # fleet seconds
    core: GateCore
    permits: list[gate_rows.Granted]  # the starts made (each at its own instant)
    wait_until: float | None  # fleet seconds; None: only a change can help
    lead: float  # begin the next round this long before ``wait_until`` (a start, not a lease)
    moved: bool  # the reports freed a slot of a full cap or brought the next start nearer
    # The instant the leaving permit's start is counted from (the round's ``now``); None:
    # a pause or park holds every start, or no permit was leaving.
    left_at: float | None = None


class PgPermit:
    """The right to send one request through the fleet gate; report its outcome once."""

    __slots__ = ("_done", "_gate", "_local_start", "lease", "seq", "started_at", "told")

    def __init__(self, gate: PgGate, lease: int, seq: int, started_at: float, told: int) -> None:
        self._gate = gate
        self.lease = lease
        self.seq = seq
        self.started_at = started_at  # fleet seconds
        self.told = told  # the gate's count of holds heard of when the round began
        self._local_start = gate.clock.now()
        self._done = False

    def sent(self) -> None:
        """The request leaves now, checked by nothing (``confirm`` is the checked way): late
        beyond a share of the margin, it is counted again from now by a queued report
        (``count_when_sent``). Kept as handed out, the slot freed that much early and the
        next window's start on it met the upstream's edge."""
        self._gate.count_when_sent(self)

    async def confirm(self) -> None:
        """The request leaves when this returns (``GatePermit.confirm``, ``PgGate.confirm``)."""
        if self._done:
            return
        try:
            await self._gate.confirm(self)
        except BaseException:
            self.abandon()  # never sent
            raise

    def success(self, rate_limit: RateLimitInfo | None = None) -> None:
        """The upstream answered; ``rate_limit`` holds its X-RateLimit figures."""
        if self._settle():
            self._gate.latency(self._gate.clock.now() - self._local_start)
            info = rate_limit or RateLimitInfo()
            at = self._gate.fleet_now()
            report = gate_reports.Succeeded(self.lease, self.seq, self.started_at, info, at)
            self._gate.report(report)

    def failure(self, error: ProviderError) -> None:
        """The request failed: frees the slot; 429s and overloads teach the whole fleet."""
        if self._settle():
            at = self._gate.fleet_now()
            report = gate_reports.Failed(self.lease, self.seq, self.started_at, error, at)
            self._gate.report(report)

    def release(self) -> None:
        """Cancelled mid-request: free the slot, learn nothing."""
        if self._settle():
            self._gate.report(gate_reports.Released(self.lease))

    def abandon(self) -> None:
        """Never sent: free the slot and un-count the start."""
        if self._settle():
            self._gate.report(gate_reports.Abandoned(self.lease, self.started_at))

    def sent_now(self) -> None:
        """Handed out: the request leaves now (its latency counts from here)."""
        self._local_start = self._gate.clock.now()

    def adopt(self, other: PgPermit) -> None:
        """Hold ``other``'s start instead (this one was given back and decided again)."""
        self.lease, self.seq, self.started_at = other.lease, other.seq, other.started_at
        self.told, self._local_start, self._done = other.told, other._local_start, False

    def _settle(self) -> bool:
        first = not self._done
        self._done = True
        return first


class PgGate:
    """A ``RateGate`` whose state is one PostgreSQL row per scope (see the module doc).

    Build it with ``open_pg_gate``; close it with ``aclose``.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        scope: str,
        config: GateConfig,
        *,
        clock: Clock,
        fleet_clock: Clock | None,
        lease_seconds: float,
        holder: str,
        log: EventLog | None,
        sets_config: bool = True,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.engine = engine
        self.scope = scope
        self.config = config
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.holder = holder
        self._fleet_clock = fleet_clock
        self._log = log
        self._config_text = config_text(config)
        # Whether the next round writes this process's config over a different one: only
        # the round that opens the gate, and only for a process that sends (``_load``).
        self._claims_config = sets_config
        self._told_config: str | None = None  # the fleet's config last warned about
        self._snapshot = GateCore(config, now=clock.now())
        self._timing = GateTiming()  # the offset to the fleet's clock, the rounds' lead
        self._reports: list[Report] = []
        self._held: set[int] = set()  # lease ids of this process's requests in flight
        self._ready: deque[PgPermit] = deque()  # started in a round, for the next waiters
        self._lock = asyncio.Lock()
        self._rounding = asyncio.Lock()  # one round of this process at a time (``_round``)
        self._changed = asyncio.Event()  # a flush or a NOTIFY moved the next start nearer
        self._reported = asyncio.Event()  # reports wait for the flusher
        self._holding = asyncio.Event()  # leases to renew
        self._waiting = 0
        self._holds_told = 0  # reports and NOTIFYs of holds heard of (``confirm`` checks)
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: AsyncConnection | None = None

    # --- the Protocol ---

    async def acquire(self) -> PgPermit:
        """Wait until the fleet may start one more request, count it and lease its slot.

        One round with the database starts as many as this process has waiting (the
        window allowing), so an opening burst costs one transaction, not one each. A
        start may be granted for an instant a little ahead (the round began a lead before
        the slot frees): the permit is handed out at that instant, when its start counts.
        A permit that would be handed out late, or after a hold was heard of, is first
        cleared under the row lock (``_clear``).
        """
        while True:
            permit = await self._granted()
            try:
                await self._sleep_until(permit.started_at - self._timing.offset)
                cleared = await self._clear(permit)
            except BaseException:
                permit.abandon()  # never sent
                raise
            if cleared:
                permit.sent_now()
                return permit

    async def confirm(self, permit: PgPermit) -> None:
        """The request of ``permit`` leaves when this returns.

        A start that would leave late (a check between the handout and the send: the
        claim's ``still_wanted``), or after a hold was heard of (this process's 429 or park,
        or another worker's, by ``NOTIFY``), is cleared under the row lock first: counted
        from that instant, before the request leaves, so that no worker decides on its slot
        as counted earlier; or, when a pause or park now holds every start, given back and
        decided again (``acquire``), so that the pacing after a pause binds it too.
        """
        if not await self._clear(permit):
            permit.adopt(await self.acquire())
        permit.sent_now()

    async def _granted(self) -> PgPermit:
        """The next permit a round grants this process (its instant may lie a lead ahead)."""
        self._waiting += 1
        try:
            async with self._lock:
                if not self._ready:
                    await asyncio.sleep(0)  # let the tasks woken with us queue: one round
                while not self._ready:
                    self._changed.clear()  # before the round: a NOTIFY during it counts
                    told = self._holds_told  # a hold heard of during the round is checked
                    decided = await self._round_retrying(want=self._waiting)
                    for granted in decided.permits:
                        self._held.add(granted.lease)
                        permit = PgPermit(self, granted.lease, granted.seq, granted.at, told)
                        self._ready.append(permit)
                    if decided.permits:
                        self._holding.set()
                    else:
                        await self._wait(decided)
                return self._ready.popleft()
        finally:
            self._waiting -= 1
            while len(self._ready) > self._waiting:  # their waiters were cancelled
                self._ready.pop().abandon()

    async def _clear(self, permit: PgPermit) -> bool:
        """Whether ``permit``'s request may leave now; False: a pause or park came since its
        round, and its start was given back (``abandon``).

        On time and with no hold heard of since its round, it leaves as counted (within a
        share of the margin: ``count_when_sent``). Otherwise one round applies the reports
        queued and, under the row lock, counts its start from the round's instant, or finds
        it held. (Counted again only by a queued report, a late start's slot stayed free in
        the database until that report was written, and another worker's next start could
        take it at the upstream's edge.) Without the database it leaves, its lateness queued.
        """
        if permit.told == self._holds_told and not self._late(permit):
            return True
        told = self._holds_told
        try:
            decided = await self._round(want=0, leaving=permit)
        except StorageUnavailable as exc:
            self._event("gate_database_unavailable", error=str(exc), retry_in=None)
            self.count_when_sent(permit)  # written when the database is back
            return True
        if decided.moved:
            self._changed.set()  # the reports it wrote brought a waiter's start nearer
        if decided.left_at is None:
            permit.abandon()
            return False
        permit.started_at, permit.told = decided.left_at, told
        self.count_when_sent(permit)  # the commit, when it took more than a share of the margin
        return True

    def _late(self, permit: PgPermit) -> bool:
        return self.fleet_now() - permit.started_at > self._snapshot.rate.margin.value * LATE_SHARE

    def count_when_sent(self, permit: PgPermit) -> None:
        """A permit leaving later than its start counts (``sent``, a commit after ``_clear``)
        is counted in the window from now by a queued report, so the slot it holds frees
        one window after the upstream saw it, not after the instant first counted. Lateness
        within a share of the margin is left to the margin (no report for it)."""
        late = self.fleet_now() - permit.started_at
        if late > self._snapshot.rate.margin.value * LATE_SHARE:
            at = permit.started_at + late
            self.report(gate_reports.Sent(permit.started_at, at))
            permit.started_at = at

    def park(self, until: float, reason: str) -> None:
        """No start anywhere in the fleet before ``until`` (this process's clock)."""
        fleet_until = until + self._timing.offset
        self._snapshot.park(fleet_until, reason)
        self.report(gate_reports.Parked(fleet_until, reason))

    def stats(self) -> GateStats:
        """The fleet's figures as of this worker's last round, times on its own clock."""
        offset = self._timing.offset
        fleet_now = self.clock.now() + offset
        stats = self._snapshot.stats(fleet_now, waiting=self._waiting, latencies=self._latencies)

        def local(at: float | None) -> float | None:
            return None if at is None else at - offset

        return dataclasses.replace(
            stats,
            paused_until=local(stats.paused_until),
            parked_until=local(stats.parked_until),
            blocked_until=local(stats.blocked_until),
            next_start=local(stats.next_start),
        )

    # --- called by permits ---

    def fleet_now(self) -> float:
        """The fleet's clock now, as this worker can tell it (the offset never runs ahead)."""
        return self.clock.now() + self._timing.offset

    def report(self, report: Report) -> None:
        """Queue an outcome or a park for the next round (flushed in the background)."""
        lease = gate_reports.lease_of(report)
        if lease is not None:
            self._held.discard(lease)
        if gate_reports.may_hold(report):
            self._holds_told += 1
        self._reports.append(report)
        self._reported.set()

    def latency(self, seconds: float) -> None:
        """Remember one request's latency (this process's, for the stats)."""
        self._latencies.append(max(0.0, seconds))

    async def flush(self) -> None:
        """Write the queued outcomes and parks now (the background task does it too)."""
        if self._reports:
            await self._round_retrying(want=0)

    # --- rounds with the database ---

    async def _round_retrying(self, *, want: int) -> _Round:
        delay = _RETRY_FIRST
        while True:
            try:
                return await self._round(want=want)
            except StorageUnavailable as exc:
                self._event("gate_database_unavailable", error=str(exc), retry_in=delay)
                await self.clock.sleep(delay)
                delay = min(_RETRY_MOST, delay * 2)

    async def _round(self, *, want: int, leaving: PgPermit | None = None) -> _Round:
        """One locked transaction: apply the queued reports, then start if allowed.

        A process's rounds take turns: a round that took the queued reports (the flusher's)
        but waits on the row lock would otherwise let a later round of the same process (a
        waiter's) decide without them, and a late start's ``Sent`` not yet applied let the
        next start into the window it had moved into (three starts in 0.3 s in a fleet test
        on a loaded machine). So every round decides with every report queued before it.
        """
        began = self.clock.now()
        async with self._rounding:
            reports, self._reports = self._reports, []
            try:
                with translated("deciding at the fleet gate"):
                    async with self.engine.begin() as connection:
                        decided = await self._decide(
                            connection, reports, want=want, leaving=leaving
                        )
            except BaseException:
                self._reports[:0] = reports  # not written: the next round writes them
                raise
        self._timing.round_took(self.clock.now() - began)
        self._snapshot = decided.core
        return decided

    async def _decide(
        self,
        connection: AsyncConnection,
        reports: list[Report],
        *,
        want: int,
        leaving: PgPermit | None = None,
    ) -> _Round:
        scope = self.scope
        stored = await gate_rows.lock_state(connection, scope)
        ending = [lease for r in reports if (lease := gate_reports.lease_of(r)) is not None]
        fleet_now = None if self._fleet_clock is None else self._fleet_clock.now()
        # The database reads its clock between these two readings of the local clock (an
        # injected fleet clock is read with the first): they bound the offset.
        local = self.clock.now()
        leases = await gate_rows.live_leases(connection, scope, now=fleet_now, ending=ending)
        now = leases.now
        self._timing.observe(now, local, local if fleet_now is not None else self.clock.now())
        core, config_changed = self._load(stored, now)
        # Each ending report frees one slot: count it in flight until it does (its lease
        # may have expired already, and must not free a slot twice).
        core.cap.in_flight = leases.live + len(ending)
        before = _moment(core, now)
        limits = _limits(core)
        held_until = max(now, core.holds.until())
        for report in reports:
            gate_reports.apply(core, report, now)
        core.cap.in_flight = leases.live
        held = core.holds.until() > held_until + EPSILON  # a new hold: say so to the fleet
        left_at = _leave(core, leaving.started_at, now) if leaving is not None else None
        if _limits(core) != limits:
            window, rate, margin = _limits(core)
            self._event("gate_limits_changed", window=window, rate=rate, margin=margin, was=limits)
        moved = _moment(core, now) < before or config_changed
        lead = self._timing.lead(core.rate.window_seconds)
        starts, wait_until, grantable = _starts(core, now, want, lead, leases.soonest_expiry)
        permits = await gate_rows.write_round(
            connection,
            scope,
            starts,
            holder=self.holder,
            now=now,
            expires_at=now + self.lease_seconds,
            state=encode(core),
            config=self._config_text if config_changed else None,
            notify=moved,
            hold=held,
        )
        return _Round(
            now=now,
            core=core,
            permits=permits,
            wait_until=wait_until,
            lead=lead if grantable else 0.0,
            moved=moved,
            left_at=left_at,
        )

    def _load(self, stored: gate_rows.StoredGate, now: float) -> tuple[GateCore, bool]:
        """The stored core, or one rebuilt from this process's config (the starts kept when
        they can be read); says whether it was rebuilt.

        The process that opened the gate last sets the fleet's config: its opening round
        rebuilds a core stored with a different one. Every later round follows the stored
        config, whatever this process was started with (warned once per config: the
        processes were started with different settings), so two processes never rewrite
        each other's limits round after round. An unreadable core is rebuilt from ours.
        """
        try:
            old: GateCore | None = decode(stored.state)
        except StateMismatch as exc:
            self._event("gate_state_rebuilt", reason=str(exc))
            old = None
        if old is not None and stored.config == self._config_text:
            return old, False
        if old is not None and not self._claims_config:
            self._differs(stored.config)
            return old, False
        core = GateCore(self.config, now=now)
        if old is not None:
            self._event("gate_config_changed", scope_config=self._config_text)
            core.adopt(old)
        return core, True

    def _differs(self, fleet_config: str) -> None:
        """Warn, once per config, that the fleet's gate runs on settings this process was
        not started with (its own are not used until it opens the gate again)."""
        if fleet_config == self._told_config:
            return
        self._told_config = fleet_config
        ours, theirs = json.loads(self._config_text), json.loads(fleet_config)
        self._event(
            "gate_config_differs",
            differs={
                k: {"here": ours.get(k), "fleet": theirs.get(k)}
                for k in sorted(set(ours) | set(theirs))
                if ours.get(k) != theirs.get(k)
            },
            followed="fleet",
        )

    async def _fleet_now(self, connection: AsyncConnection) -> float:
        if self._fleet_clock is not None:
            return self._fleet_clock.now()
        return await gate_rows.database_now(connection)

    async def _wait(self, decided: _Round) -> None:
        """Sleep until a lead before the decided time (the next round is granted for that
        time), or until a report or a NOTIFY says things moved."""
        until = decided.wait_until
        # Against the clock as it is now, not as the round began: committing took time.
        if until is None:
            local_until = decided.now - self._timing.offset + self.lease_seconds
        else:
            local_until = until - self._timing.offset - decided.lead
        await first_of(self._sleep_until(local_until), self._changed.wait())

    async def _sleep_until(self, local_until: float) -> None:
        """Sleep until an instant of this process's clock, measured when the sleep begins.

        ``first_of`` starts its awaitables as tasks, one loop turn later: a delay computed
        before that turn overshoots by however far the clock moved meanwhile (with a test's
        fake clock, past its last step, so the waiter never woke). An instant already
        past costs no loop turn.
        """
        delay = local_until - self.clock.now()
        if delay > 0:
            await self.clock.sleep(delay)

    # --- background work ---

    async def _flush_reports(self) -> None:
        """Write queued reports at once, so that the fleet learns and slots free."""
        while True:
            await self._reported.wait()
            self._reported.clear()
            if not self._reports:
                continue
            try:
                decided = await self._round(want=0)
            except StorageUnavailable as exc:
                self._event("gate_database_unavailable", error=str(exc), retry_in=_RETRY_MOST)
                self._reported.set()
                await self.clock.sleep(_RETRY_MOST)
                continue
            if decided.moved:
                self._changed.set()

    async def renew(self) -> None:
        """Renew this process's leases now (the background task does it every third of
        the lease). ``StorageUnavailable`` when the database cannot be reached."""
        held = set(self._held)
        if not held:
            return
        with translated("renewing fleet gate leases"):
            async with self.engine.begin() as connection:
                now = await self._fleet_now(connection)
                kept = await gate_rows.renew_leases(connection, held, now + self.lease_seconds)
        if kept < len(held & self._held):
            # Renewed too late (a stalled process): the fleet no longer counts them.
            self._event("gate_lease_lost", lost=len(held & self._held) - kept)

    async def _renew_leases(self) -> None:
        """Keep this process's leases alive while their requests run."""
        while True:
            await self._holding.wait()
            await self.clock.sleep(self.lease_seconds / 3)
            if not self._held:
                self._holding.clear()
                continue
            try:
                await self.renew()
            except StorageUnavailable as exc:
                self._event("gate_database_unavailable", error=str(exc), retry_in=None)

    async def refresh(self) -> None:
        """Read the scope's state into the snapshot ``stats()`` answers from (no lock): a
        process that starts nothing (an API process, an idle worker) has no round to bring
        it, and would show the fleet's parks, pauses and window as they were at its start."""
        with translated("reading the fleet gate"):
            async with self.engine.connect() as connection:
                stored = await gate_rows.read_state(connection, self.scope)
        with contextlib.suppress(StateMismatch):  # the next round rebuilds it
            self._snapshot = decode(stored.state)

    async def _refresh_snapshot(self) -> None:
        """Keep the snapshot at most a third of a lease old."""
        while True:
            await self.clock.sleep(self.lease_seconds / 3)
            with contextlib.suppress(StorageUnavailable):
                await self.refresh()

    async def _listen(self) -> None:
        """LISTEN for other workers' changes; without it waits still end on time."""
        try:
            with translated("listening for fleet gate changes"):
                connection = await self.engine.connect()
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection  # the asyncpg connection
                await driver.add_listener(gate_rows.CHANNEL, self._notified)
                await driver.add_listener(gate_rows.HOLD_CHANNEL, self._hold_notified)
        except StorageUnavailable as exc:
            self._event("gate_listen_failed", error=str(exc))
            return
        self._listener = connection

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.scope:
            self._changed.set()

    def _hold_notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.scope:
            self._holds_told += 1  # permits not yet sent are cleared again (``_clear``)

    async def _open(self) -> None:
        """Create the scope's row if needed, then start listening, flushing and renewing."""
        with translated("opening the fleet gate"):
            async with self.engine.begin() as connection:
                now = await self._fleet_now(connection)
                fresh = encode(GateCore(self.config, now=now))
                await gate_rows.create_state(
                    connection, self.scope, config=self._config_text, state=fresh, now=now
                )
        await self._round(want=0)  # sets a changed config (a sender's); takes the snapshot
        self._claims_config = False  # from now on the stored config is followed
        await self._listen()
        self._tasks.append(asyncio.create_task(self._flush_reports(), name="pg-gate-flush"))
        self._tasks.append(asyncio.create_task(self._renew_leases(), name="pg-gate-renew"))
        self._tasks.append(asyncio.create_task(self._refresh_snapshot(), name="pg-gate-view"))

    async def aclose(self) -> None:
        """Stop renewing and listening; write the reports still queued (best effort).

        Leases still held are left to expire: their requests' outcomes were never told.
        """
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._reports:
            with contextlib.suppress(StorageUnavailable):
                await self._round(want=0)
        if self._listener is not None:
            with contextlib.suppress(Exception):  # closing: the connection may be gone
                raw = await self._listener.get_raw_connection()
                driver: Any = raw.driver_connection
                await driver.remove_listener(gate_rows.CHANNEL, self._notified)
                await driver.remove_listener(gate_rows.HOLD_CHANNEL, self._hold_notified)
            await self._listener.close()
            self._listener = None

    def _event(self, name: str, **details: object) -> None:
        if self._log is not None:
            level = "info" if name in _INFO_EVENTS else "warning"
            self._log.event(name, level=level, details={"scope": self.scope, **details})


_INFO_EVENTS = frozenset({"gate_config_changed", "gate_limits_changed"})


def _limits(core: GateCore) -> tuple[float, float | None, float]:
    """What the fleet's answers teach: the window, the effective rate and the margin."""
    rate = core.rate
    effective = rate.rate.value if rate.rate is not None else None
    return (round(rate.window_seconds, 3), effective, round(rate.margin.value, 3))


def _leave(core: GateCore, counted: float, now: float) -> float | None:
    """A permit's request leaves after this round: its start counted at ``counted`` counts
    from ``now`` (returned), unless a pause or park now holds every start (``None``)."""
    if core.holds.until() > now + EPSILON:
        return None
    if now > counted:
        core.sent_late(counted, now)
    return max(now, counted)


def _starts(
    core: GateCore, now: float, want: int, lead: float, soonest_expiry: float | None
) -> tuple[list[tuple[int, float]], float | None, bool]:
    """Start up to ``want``, each at the instant its slot frees if that is within ``lead``.

    Returns the (start number, instant) pairs, when to look again, and whether that is a
    start that may be granted ahead (not the expiry of a lease that fills the cap: a lease
    still live a lead before it expires would only make the round come back at once).
    """
    starts: list[tuple[int, float]] = []
    while len(starts) < want:
        if core.full(now):
            return starts, soonest_expiry, False
        at = max(now, core.next_start(now))
        if at > now + lead + EPSILON:
            return starts, at, True
        starts.append((core.start(at), at))
    return starts, None, False


def _moment(core: GateCore, now: float) -> tuple[bool, float]:
    """(cap full, next start) at ``now``, without marking anything (a smaller one is nearer:
    a full cap sorts after a free one). Only a change that makes it smaller wakes waiters;
    an outcome that merely delays (a 429, a park) does not wake the fleet for nothing."""
    return core.cap.in_flight >= core.cap.limit, core.next_start(now, observe=False)


async def open_pg_gate(
    engine: AsyncEngine,
    scope: str,
    config: GateConfig,
    *,
    clock: Clock | None = None,
    fleet_clock: Clock | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    holder: str | None = None,
    log: EventLog | None = None,
    sets_config: bool = True,
) -> PgGate:
    """Open the fleet gate of ``scope`` (``RateScope.key``) on a PostgreSQL ``engine``.

    ``engine``: an async SQLAlchemy engine on asyncpg whose database is migrated (revision
    0007 or later; ``Database.open`` does that, and ``Database.engine`` is the one to pass).
    ``config``: this worker's ``GateConfig``; the fleet should share one. The process that
    opens the gate last sets it: opened with a different one, the state is rebuilt from it
    (the starts already made are kept; what was learned is not) and the other processes
    follow it, each warning once (``gate_config_differs``) that its own settings are not
    used. ``sets_config=False`` (a process that sends nothing, ``serve --no-worker``):
    the stored config is followed from the start and never replaced.
    ``clock``: the worker's clock, the one ``park(until)`` and ``stats()`` use and the gate
    sleeps on (default: the monotonic ``SystemClock``). ``fleet_clock``: the clock the
    fleet agrees on; ``None`` (production) is the database server's clock; tests pass
    one ``FakeClock`` shared by every gate. ``lease_seconds``: how long a killed worker's
    requests keep their slots. ``holder``: written on each lease, for people reading the
    table (default ``host:pid``). ``log``: where database outages and rebuilt state are
    told.

    Raises ``StorageUnavailable`` when the database cannot be reached.
    """
    gate = PgGate(
        engine,
        scope,
        config,
        clock=clock or SystemClock(),
        fleet_clock=fleet_clock,
        lease_seconds=lease_seconds,
        holder=holder or f"{socket.gethostname()}:{os.getpid()}",
        log=log,
        sets_config=sets_config,
    )
    await gate._open()
    return gate
