"""One gate per upstream credential: when may the next request start.

Every batch of the process shares the gate of its credential, because the upstream's limit
is per account. A request may start when all of these allow it:

* the sliding window: at most ``effective rate`` starts per ``window`` seconds (plus a small
  ``margin`` so that network jitter does not push a start into the upstream's previous
  window), the opening burst allowed; and at most ``per_day`` per 24 hours;
* the in-flight cap;
* no pause: a 429 stops all dispatch until its ``Retry-After`` / reset, and the first
  window after a surprise 429's pause is *paced* (one start per window/rate) so that the
  queue does not stampede the upstream the moment the pause ends. A 429 that merely
  teaches an unknown limit is no surprise: our window, which counts the refused starts
  too, already spaces what follows.

Clock skew is not congestion. A 429 that comes while our window is at the known rate and
asks for only a moment (``Retry-After`` at most 5% of the window) means the upstream's
window is a little behind ours: the request reached it just before its oldest start left
(network and event-loop jitter between our start time and its arrival time). The gate
pauses for that moment, un-counts the refused start (the upstream did not count it
either), and widens its margin (once per episode, up to 5% of the window) so that the
next windows keep clear of the edge. Cutting the rate for it would cost whole windows:
at 20 per window a halved rate needs ten clean saturated windows to come back. Only when
the margin is already at its widest does such a 429 count as a surprise.

AIMD on the rate: a 429 cuts the effective rate by ``decrease`` (once per episode: requests
that started before the last cut do not cut again); while the window is the binding limit
("saturated") and no 429 came for a whole window ("clean"), the rate grows by one per
window, up to the configured or learned limit. Growing while not saturated would learn
nothing, since a rate that is never reached is never tested.

AIMD on the in-flight cap: 503s and timeouts (``TransientProviderError.overload``) cut it;
it grows by one after ``cap`` clean successes that completed while the cap was full.

Unknown limits (``rate=None``): the gate starts permissive, bounded by the in-flight cap
only, and learns: an ``X-RateLimit-Limit`` figure (on a success or on a 429) becomes the
limit per ``window`` (the headers do not name their window, so the configured one is
assumed); a 429 without figures sets the rate to half of what the window holds. A figure
*below* a configured rate also becomes the ceiling (the upstream's word beats a too-high
``UPSTREAM_RPM``); a higher one never raises the configured cap.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass

from slidebatch.errors import ProviderError, RateLimited, TransientProviderError
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.aimd import Aimd
from slidebatch.scheduler.clock import Clock
from slidebatch.scheduler.window import SlidingWindow

DAY_SECONDS = 86_400.0
_LATENCY_SAMPLES = 200
_EPSILON = 1e-9
# A 429 asking for at most this share of the window, at our full rate, is skew (see above);
# the margin never grows beyond the same share.
_SKEW_SHARE = 0.05
_MIN_MARGIN = 0.1  # seconds: scheduling and network jitter, which no window scales
_MAX_DEFAULT_MARGIN = 0.5


@dataclass(frozen=True, slots=True)
class GateStats:
    """A snapshot of one gate, for logs, ``config/optimal``, ``config/validate`` and metrics."""

    configured_rate: int | None
    effective_rate: float | None  # None: no limit known yet (in-flight cap only)
    learned_limit: int | None
    window: float
    per_day: int | None
    starts_in_window: int
    starts_today: int
    in_flight: int
    in_flight_cap: int
    max_in_flight: int
    waiting: int
    paused_until: float | None  # clock time; None when not paused
    requests_total: int
    rate_limited_total: int
    overload_total: int
    latency_p50: float | None
    latency_p95: float | None
    margin: float = 0.0  # seconds added to the window; widened by skew 429s
    skew_total: int = 0  # 429s taken for clock skew (paused for, not cut)


class Permit:
    """The right to send one request; report its outcome exactly once."""

    __slots__ = ("_done", "_gate", "seq", "started_at")

    def __init__(self, gate: Gate, started_at: float, seq: int) -> None:
        self._gate = gate
        self.started_at = started_at
        self.seq = seq  # start order: tells whether a failure predates the last cut
        self._done = False

    def success(self, rate_limit: RateLimitInfo | None = None) -> None:
        """The request succeeded; ``rate_limit`` holds the upstream's X-RateLimit figures."""
        if self._settle():
            self._gate._on_success(self, rate_limit or RateLimitInfo())

    def failure(self, error: ProviderError) -> None:
        """The request failed with ``error``: frees the slot, may pause or cut."""
        if self._settle():
            self._gate._on_failure(self, error)

    def release(self) -> None:
        """The request was sent but its outcome is unknown (cancelled): free the slot only."""
        if self._settle():
            self._gate._on_release(self)

    def abandon(self) -> None:
        """Nothing was sent after all: free the slot and un-count the start."""
        if self._settle():
            self._gate._on_abandon(self)

    def _settle(self) -> bool:
        first = not self._done
        self._done = True
        return first


class Gate:
    """The shared limiter of one upstream credential."""

    def __init__(
        self,
        *,
        clock: Clock,
        rate: int | None = None,
        window: float = 60.0,
        per_day: int | None = None,
        max_in_flight: int = 32,
        margin: float | None = None,
        decrease: float = 0.5,
    ) -> None:
        if rate is not None and rate < 1:
            raise ValueError("rate must be at least 1")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._clock = clock
        self._configured_rate = rate
        self._window_seconds = window
        self._per_day = per_day
        self._max_in_flight = max_in_flight
        self._decrease = decrease
        self._margin = _default_margin(window) if margin is None else margin
        self._max_margin = max(self._margin, window * _SKEW_SHARE)
        self._margin_seq = 0  # permits up to this start number predate the last widening
        self._skew_total = 0
        self._window = SlidingWindow(window + self._margin, keep=window + 3 * self._max_margin)
        self._day = SlidingWindow(DAY_SECONDS) if per_day is not None else None
        self._rate: Aimd | None = (
            Aimd(rate, ceiling=rate, decrease=decrease) if rate is not None else None
        )
        self._learned_limit: int | None = None
        self._cap = Aimd(max_in_flight, ceiling=max_in_flight, decrease=decrease)
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._in_flight = 0
        self._waiting = 0
        self._paused_until = -math.inf
        self._paced_until = -math.inf
        self._rate_cut_seq = 0  # permits up to this start number belong to the last episode
        self._last_rate_change = clock.now()
        self._rate_saturated = False
        self._cap_cut_seq = 0
        self._cap_clean_successes = 0
        self._cap_hit = False  # the in-flight cap limited dispatch since it last grew
        self._requests_total = 0
        self._seq = 0
        self._rate_limited_total = 0
        self._overload_total = 0
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)

    # --- acquiring ---

    async def acquire(self) -> Permit:
        """Wait until one more request may start (FIFO among waiters), then count it."""
        self._waiting += 1
        try:
            async with self._lock:
                while True:
                    now = self._clock.now()
                    self._maybe_grow(now)
                    if self._in_flight >= self._cap.limit:
                        self._cap_hit = True
                        self._changed.clear()
                        await self._changed.wait()
                        continue
                    at = self._next_start(now)
                    # A hair's breadth is "now": a sleep shorter than the clock's float
                    # resolution would not move it, and we would spin.
                    if at <= now + _EPSILON:
                        return self._start(now)
                    await self._clock.sleep(at - now)
        finally:
            self._waiting -= 1

    def _next_start(self, now: float) -> float:
        at = max(now, self._paused_until)
        if self._day is not None and self._per_day is not None:
            at = max(at, self._day.next_free(now, self._per_day))
        if self._rate is not None:
            limit = self._rate.limit
            by_window = self._window.next_free(now, limit)
            if by_window > now >= self._paused_until:
                self._rate_saturated = True
            at = max(at, by_window)
            last = self._window.last_start()
            if now < self._paced_until and last is not None:
                at = max(at, last + self._window_seconds / limit)
        return at

    def _start(self, now: float) -> Permit:
        self._window.record(now)
        if self._day is not None:
            self._day.record(now)
        self._in_flight += 1
        if self._in_flight >= self._cap.limit:
            self._cap_hit = True
        self._requests_total += 1
        self._seq += 1
        return Permit(self, now, self._seq)

    # --- outcomes (called by Permit) ---

    def _on_success(self, permit: Permit, info: RateLimitInfo) -> None:
        now = self._clock.now()
        self._free_slot()
        self._latencies.append(max(0.0, now - permit.started_at))
        self._learn(info.limit)
        if info.remaining == 0 and info.reset_after is not None:
            # The upstream says its window is full: wait for its reset, no cut (no 429 yet).
            self._paused_until = max(self._paused_until, now + info.reset_after)
        if self._cap_hit and permit.seq > self._cap_cut_seq:
            # Like TCP's cwnd: grow only when the cap was the limit, one per cap successes.
            self._cap_clean_successes += 1
            if self._cap_clean_successes >= self._cap.limit:
                self._cap.grow(1)
                self._cap_clean_successes = 0
                self._cap_hit = False
        self._maybe_grow(now)

    def _on_failure(self, permit: Permit, error: ProviderError) -> None:
        now = self._clock.now()
        in_use = self._in_flight
        self._free_slot()
        if isinstance(error, RateLimited):
            self._on_rate_limited(permit, error, now)
        elif isinstance(error, TransientProviderError) and error.overload:
            self._overload_total += 1
            if error.retry_after is not None:
                self._pause(now, error.retry_after)
            if permit.seq > self._cap_cut_seq:
                self._cap.cut(basis=in_use)
                self._cap_cut_seq = self._seq
                self._cap_clean_successes = 0

    def _on_release(self, permit: Permit) -> None:
        self._free_slot()

    def _on_abandon(self, permit: Permit) -> None:
        self._window.forget(permit.started_at)
        if self._day is not None:
            self._day.forget(permit.started_at)
        self._requests_total -= 1
        self._free_slot()

    def _on_rate_limited(self, permit: Permit, error: RateLimited, now: float) -> None:
        self._rate_limited_total += 1
        hint = error.retry_after if error.retry_after is not None else error.reset_after
        if hint is None:
            limit = self._rate.limit if self._rate is not None else 1
            hint = self._window_seconds / limit
        self._pause(now, hint)
        if self._is_skew(error, hint, now):
            self._skew_total += 1
            # The upstream refused it without counting it: neither do we, or the refused
            # start would hold one of our slots for a whole window.
            self._window.forget(permit.started_at)
            if self._day is not None:
                self._day.forget(permit.started_at)
            if permit.seq > self._margin_seq:
                self._widen_margin(hint)
            return
        if permit.seq <= self._rate_cut_seq:
            return  # started before the last cut: this episode has already been answered
        if self._learn(error.limit):
            # The 429 taught the limit: our ignorance, not congestion. No cut and no pacing:
            # our window (which counts the refused starts too) already knows when slots free.
            pass
        elif self._rate is None:
            # No figures at all: half of what the window let through is a safe new start.
            passed = max(1, self._window.count(now))
            self._rate = Aimd(passed * self._decrease, decrease=self._decrease)
            self._pace_after_pause()
        else:
            # A surprise: someone else shares the account, or the windows are misaligned.
            self._rate.cut()
            self._pace_after_pause()
        self._rate_cut_seq = self._seq
        # Recovery counts clean windows from the end of the pause, not from the 429.
        self._last_rate_change = max(now, self._paused_until)
        self._rate_saturated = False

    def _is_skew(self, error: RateLimited, hint: float, now: float) -> bool:
        """A 429 at our known full rate that asks for a moment only: windows misaligned."""
        rate = self._rate
        if rate is None or error.retry_after is None or self._margin >= self._max_margin:
            return False
        if error.limit is not None and error.limit < rate.limit:
            return False  # the upstream names a lower limit: that is a lesson, not skew
        if hint > self._window_seconds * _SKEW_SHARE:
            return False
        # Could the upstream's window, ``hint`` and a margin behind ours, hold ``rate`` of our
        # starts besides the refused one? Then it is our own starts it counts: skew.
        since = now - self._window_seconds - self._max_margin - hint
        return self._window.count_since(since, now) - 1 >= rate.limit

    def _widen_margin(self, early_by: float) -> None:
        """Keep starts ``early_by`` (and then some) further from the upstream's window edge."""
        wider = max(self._margin * 1.5, self._margin + 2 * early_by)
        self._margin = min(self._max_margin, wider)
        self._window.window = self._window_seconds + self._margin
        self._margin_seq = self._seq

    # --- helpers ---

    def _pause(self, now: float, seconds: float) -> None:
        self._paused_until = max(self._paused_until, now + max(0.0, seconds))

    def _pace_after_pause(self) -> None:
        self._paced_until = max(self._paced_until, self._paused_until + self._window_seconds)

    def _learn(self, limit: int | None) -> bool:
        """Take the upstream's X-RateLimit-Limit; say whether it taught a new ceiling.

        Without a configured rate the figure is the limit. With one, only a lower figure
        counts: the upstream's word beats a misconfiguration, never the user's own cap.
        """
        if limit is None or limit < 1:
            return False
        if self._configured_rate is not None and limit >= self._configured_rate:
            return False
        if self._rate is not None and self._rate.ceiling == limit:
            return False
        self._learned_limit = limit
        if self._rate is None:
            self._rate = Aimd(limit, ceiling=limit, decrease=self._decrease)
        else:
            self._rate.ceiling = limit
        return True

    def _maybe_grow(self, now: float) -> None:
        rate = self._rate
        if rate is None or rate.at_ceiling or not self._rate_saturated:
            return
        if now - self._last_rate_change >= self._window_seconds + self._margin:
            rate.grow(1)
            self._last_rate_change = now
            self._rate_saturated = False

    def _free_slot(self) -> None:
        self._in_flight -= 1
        self._changed.set()

    # --- figures ---

    def stats(self) -> GateStats:
        """The gate's figures right now."""
        now = self._clock.now()
        latencies = sorted(self._latencies)
        return GateStats(
            configured_rate=self._configured_rate,
            effective_rate=self._rate.value if self._rate is not None else None,
            learned_limit=self._learned_limit,
            window=self._window_seconds,
            per_day=self._per_day,
            starts_in_window=self._window.count(now),
            starts_today=self._day.count(now) if self._day is not None else self._requests_total,
            in_flight=self._in_flight,
            in_flight_cap=self._cap.limit,
            max_in_flight=self._max_in_flight,
            waiting=self._waiting,
            paused_until=self._paused_until if self._paused_until > now else None,
            requests_total=self._requests_total,
            rate_limited_total=self._rate_limited_total,
            overload_total=self._overload_total,
            latency_p50=_percentile(latencies, 0.50),
            latency_p95=_percentile(latencies, 0.95),
            margin=self._margin,
            skew_total=self._skew_total,
        )


def _default_margin(window: float) -> float:
    """1% of the window, at most half a second, but 0.1 s at least (up to 5% of the window).

    The floor is there because jitter does not shrink with the window: a busy event loop
    sends a burst of twenty over tens of milliseconds whatever the window, and a
    time-scaled window of a few seconds would otherwise leave a margin smaller than that.
    """
    return min(_MAX_DEFAULT_MARGIN, window * _SKEW_SHARE, max(_MIN_MARGIN, window * 0.01))


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ordered sample."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class GateRegistry:
    """One gate per upstream credential, so every batch in the process shares it."""

    def __init__(
        self,
        *,
        clock: Clock,
        rate: int | None = None,
        window: float = 60.0,
        per_day: int | None = None,
        max_in_flight: int = 32,
        margin: float | None = None,
    ) -> None:
        self._clock = clock
        self._rate = rate
        self._window = window
        self._per_day = per_day
        self._max_in_flight = max_in_flight
        self._margin = margin
        self._gates: dict[str, Gate] = {}

    def gate_for(self, credential_id: str) -> Gate:
        """The gate of ``credential_id``, made on first use."""
        gate = self._gates.get(credential_id)
        if gate is None:
            gate = Gate(
                clock=self._clock,
                rate=self._rate,
                window=self._window,
                per_day=self._per_day,
                max_in_flight=self._max_in_flight,
                margin=self._margin,
            )
            self._gates[credential_id] = gate
        return gate

    def stats(self) -> dict[str, GateStats]:
        """Every gate's figures by credential id."""
        return {credential: gate.stats() for credential, gate in self._gates.items()}
