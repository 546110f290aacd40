"""The rate half of a gate: how many starts per window, learned, cut and grown.

AIMD on the rate: a 429 cuts the effective rate by ``decrease`` (once per episode: requests
that started before the last cut do not cut again); while the window is the binding limit
("saturated") and no 429 came for a whole window ("clean"), the rate grows by one per
window, up to the configured or learned limit. Growing while not saturated would learn
nothing, since a rate that is never reached is never tested. The first window after a
surprise 429's pause is *paced* (one start per window/rate) so that the queue does not
stampede the upstream the moment the pause ends. A 429 that merely teaches an unknown limit
is no surprise: our window, which counts the refused starts too, already spaces what follows.

Unknown limits (``rate=None``): the gate starts bounded by the in-flight cap and, after the
window's first ``OPENING_BURST`` starts, a *probe* (starts ``probe_gap`` apart, so that the
first 429 comes back before the opening burst becomes a storm the upstream counts against
us), and learns: an ``X-RateLimit-Limit``
figure (on a success or on a 429) becomes the limit; a 429 without figures sets the rate to
half of what the window holds. An explicit figure beats ``UPSTREAM_RPM`` in both
directions; AIMD's own growth never passes the setting.

The window is learned too. The headers do not name it, but a reset does: "the oldest start
I count leaves my window in ``r`` seconds". Matched against the gate's own start times, the
start that is the oldest one counted is one such that the start before it has already left
and ``limit - remaining`` starts from it on were counted when the upstream wrote its
figures, some moment between the answered request's send and our reading of the answer: its
window is ``now + r - start``. Starts made in that time (a fleet's other workers) may or
may not be counted, so a success can fit several starts, and an assumed window moves to
the reading nearest it (none, when it is one of them): matched to the latest start that
fits, a fleet's window fell from 6 s to under 1 s and the next burst was refused. A
configured window is the operator's word and a success's reset only an inference: every
right reading runs long by our start's way to the upstream and the answer's way back
(0.1-0.6 s under load: a fleet's window wandered from 6.0 to 6.6 s), so a success never
lengthens it (an upstream whose window is longer says so by "0 remaining" or a 429's reset),
and it shortens only when two answers in a row each name one shorter window alone (one
answer fitting a single wrong start once set a fleet's 6 s window to 3.2 s, and the next
burst was refused). A refusal's count is only a floor (some upstreams count refusals), and
it names the latest start that fits, whatever was configured; a refusal whose own figures
leave room (``X-RateLimit-Remaining`` above 0: another limit refused it, or a relay) names
no window at all (matched as a full window of our starts, such a reset named a start
windows back, and a 6 s window became 33-57 s).
An upstream that says nothing on success (figures only with 429s) cannot correct a window
configured too long by itself; while such a window is neither learned nor confirmed, the
gate probes past its edge (one start a tenth of a window after the last one it allowed,
then ``probe_gap`` apart) until a 429 names the real window; a right window is confirmed by
that first 429 and probing stops. ``Retry-After`` is read the same way when no reset came
and the window was only assumed (a configured window is not overruled by a generic "try
again later"). A learned window replaces the configured or assumed one when it differs by
more than 2% (the margin a skew 429 widened is kept: the jitter it answers stays); a window
longer than the pause cap is never learned (that is a block, not a window).

Clock skew is not congestion. A 429 that comes while our window is at the known rate and
asks for only a moment (``Retry-After`` at most 5% of the window) means the upstream's
window is a little behind ours: the request reached it just before its oldest start left
(network and event-loop jitter between our start time and its arrival time). The gate pauses
for that moment and widens its margin (once per episode, up to 5% of the window) so that the
next windows keep clear of the edge. Cutting the rate for it would cost whole windows: at 20
per window a halved rate needs ten clean saturated windows to come back. With the margin at
its widest such a 429 is still jitter, not a lower limit: it pauses for the moment and cuts
nothing (a lower limit shows itself otherwise: the upstream names it, or refuses while our
window is not full of our own starts, or asks for more than a moment). The
refused start stays counted, as every refused start does: some upstreams count refusals
against their window, and one that does not loses only the moment the skew asked for (the
refused start sits at the window's edge, so it leaves our window just after the next one
opens).
"""

from __future__ import annotations

import bisect
import contextlib
import math
from collections import deque

from slidebatch.errors import RateLimited
from slidebatch.scheduler.aimd import Aimd
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.scheduler.window import StartWindows

# A 429 asking for at most this share of the window, at our full rate, is skew (see above);
# the margin never grows beyond the same share.
SKEW_SHARE = 0.05
_MIN_MARGIN = 0.1  # seconds: scheduling and network jitter, which no window scales
_MAX_DEFAULT_MARGIN = 0.5
_HISTORY = 1024  # starts remembered to match resets against (several windows' worth)
_WINDOW_TOLERANCE = 0.02  # a learned window this close to the current one changes nothing
# While no limit is known, this many starts of a window go at once before the probe spaces
# the rest: spacing them would delay every batch's first images against any usual limit,
# and against a limit below it the burst costs at most this many refusals, once.
OPENING_BURST = 5


def default_margin(window: float) -> float:
    """1% of the window, at most half a second, but 0.1 s at least (up to 5% of the window).

    The floor is there because jitter does not shrink with the window: a busy event loop
    sends a burst of twenty over tens of milliseconds whatever the window, and a
    time-scaled window of a few seconds would otherwise leave a margin smaller than that.
    """
    return min(_MAX_DEFAULT_MARGIN, window * SKEW_SHARE, max(_MIN_MARGIN, window * 0.01))


class SkewMargin:
    """Seconds kept between our window's edge and the upstream's, widened by skew 429s."""

    def __init__(self, margin: float, *, window: float) -> None:
        self.value = margin
        self.widest = max(margin, window * SKEW_SHARE)
        self.skew_total = 0
        self._seq = 0  # permits up to this start number predate the last widening

    def widen(self, seq: int, early_by: float, *, last_seq: int) -> bool:
        """Widen for a 429 ``early_by`` seconds early, once per episode; say if it moved."""
        if seq <= self._seq:
            return False
        self.value = min(self.widest, max(self.value * 1.5, self.value + 2 * early_by))
        self._seq = last_seq
        return True


class RateController:
    """Starts per window for one gate: the record of starts, the limit and its AIMD."""

    def __init__(self, config: GateConfig, *, now: float) -> None:
        self.configured_rate = config.rate
        self.window_seconds = config.window
        self.window_learned = False
        self._decrease = config.decrease
        self._probe_gap = config.probe_gap
        self._window_configured = config.window_configured
        self._longest_window = config.max_pause
        self._margin_configured = config.margin is not None
        # Starts remembered longer than the window, to match an upstream's reset against.
        self._history: deque[float] = deque()
        self._history_lost = -math.inf  # the latest start no longer remembered
        self._silent = False  # a success came without figures: only 429s will teach us
        self._last_in_window = -math.inf  # the latest start our window allowed (not a probe)
        self._probes: deque[float] = deque(maxlen=64)  # starts made past our window's edge
        self._refused: deque[float] = deque(maxlen=_HISTORY)  # starts answered with a 429
        # A shorter window one success named alone (a second answer must name one too
        # before a configured window shortens).
        self._shorter: float | None = None
        margin = default_margin(config.window) if config.margin is None else config.margin
        self.margin = SkewMargin(margin, window=config.window)
        self.starts = StartWindows(
            config.window, margin=margin, max_margin=self.margin.widest, per_day=config.per_day
        )
        self.rate: Aimd | None = (
            Aimd(config.rate, ceiling=config.rate, decrease=config.decrease)
            if config.rate is not None
            else None
        )
        self.learned_limit: int | None = None
        self.rate_limited_total = 0
        self._paced_until = -math.inf
        self._cut_seq = 0  # permits up to this start number belong to the last episode
        self._last_change = now
        self._saturated = False

    # --- when ---

    def next_start(self, now: float, paused_until: float, *, observe: bool = True) -> float:
        """Earliest start the window (and the pacing after a pause) allows.

        ``observe``: a dispatcher is asking, so a full window means the rate is saturated.
        """
        limit = self.rate.limit if self.rate is not None else None
        at = self.starts.next_free(now, limit)
        if limit is None:
            last = self.starts.rate.last_start()
            if self._probe_gap > 0 and last is not None and self._opened(now):
                at = max(at, last + self._probe_gap)
            return at
        by_window = self.starts.rate.next_free(now, limit)
        if observe and by_window > now >= paused_until:
            self._saturated = True
        last = self.starts.rate.last_start()
        if by_window > now and last is not None and self._may_probe_window():
            # An upstream silent on success may have a shorter window than we believe:
            # only a refusal (with its reset) can tell, so try past our window's edge.
            probe = max(self._last_in_window + self.window_seconds / 10, last + self._probe_gap)
            at = max(self.starts.next_free(now, None), min(by_window, probe))
        if now < self._paced_until and last is not None:
            at = max(at, last + self.window_seconds / limit)
        return at

    def _opened(self, now: float) -> bool:
        """The window's opening burst is spent: the probe spaces the starts after it."""
        return self.starts.rate.count(now) >= OPENING_BURST

    def _may_probe_window(self) -> bool:
        """The window is neither learned nor confirmed, and only a 429 would say it."""
        return self._probe_gap > 0 and self._silent and not self.window_learned

    def heard(self, *, figures: bool) -> None:
        """A success came back, with rate-limit figures or (``figures=False``) without."""
        if not figures:
            self._silent = True

    def record(self, at: float) -> None:
        """Count a start."""
        limit = self.rate.limit if self.rate is not None else None
        if limit is None or self.starts.rate.next_free(at, limit) <= at:
            self._last_in_window = at  # within our window, not a probe past its edge
        else:
            self._probes.append(at)
        self.starts.record(at)
        self._history.append(at)
        # A start older than the longest window the gate may learn can never be the one a
        # reset names (that window would be rejected): forgetting it changes nothing, and
        # keeps the fleet's state row small. (A window's slack covers starts granted ahead.)
        horizon = at - self._longest_window - self.window_seconds
        while self._history and (len(self._history) > _HISTORY or self._history[0] < horizon):
            self._history_lost = self._history.popleft()

    def move(self, was: float, at: float) -> None:
        """Count the start made at ``was`` at ``at`` instead (it left late)."""
        self.starts.forget(was)
        self.starts.record(at)
        with contextlib.suppress(ValueError):
            self._history.remove(was)
            bisect.insort(self._history, at)
        if was in self._probes:
            self._probes.remove(was)
            self._probes.append(at)
        if self._last_in_window == was:
            self._last_in_window = at

    def forget(self, at: float) -> None:
        """Un-count a start the upstream never counted."""
        self.starts.forget(at)
        with contextlib.suppress(ValueError):
            self._history.remove(at)

    def moved(self, old: float, new: float) -> None:
        """A start counted at ``old`` was sent at ``new``: count it from ``new``."""
        if new <= old or old not in self._history:
            return
        self.starts.forget(old)
        self.starts.record(new)
        self._history.remove(old)
        bisect.insort(self._history, new)
        if old in self._probes:
            self._probes[self._probes.index(old)] = new
        else:
            self._last_in_window = max(self._last_in_window, new)

    def reconcile(self, now: float, remaining: int | None) -> None:
        """A success said ``remaining`` (X-RateLimit-Remaining): un-count what it never counted.

        Our window keeps a refused start counted, since some upstreams count refusals. One
        that does not, and says so with more room than our window shows, has not counted
        (at least) that many of our refusals: they are forgotten, newest first, so a burst
        refused at the window's edge (skew) does not hold its slots for a whole window.
        Only refusals are ever forgotten, and each episode's refusals are judged once, by
        the first figure after them: figures that come later may predate the starts that
        the forgotten slots were used for, and would free the same room twice.
        """
        rate = self.rate
        if remaining is None or rate is None or not self._refused:
            return
        excess = remaining - (rate.limit - self.starts.rate.count(now))
        horizon = now - self.starts.rate.window
        refused = sorted(at for at in self._refused if at > horizon)
        self._refused.clear()
        for at in reversed(refused[-excess:] if excess > 0 else []):
            self.forget(at)

    def maybe_grow(self, now: float) -> None:
        """Additive increase: one more per clean saturated window."""
        rate = self.rate
        if rate is None or rate.at_ceiling or not self._saturated:
            return
        if now - self._last_change >= self.window_seconds + self.margin.value:
            rate.grow(1)
            self._last_change = now
            self._saturated = False

    # --- outcomes ---

    def pause_for(self, error: RateLimited, now: float) -> float:
        """How long a 429 asks us to hold every start.

        A wait of zero or less is no timing at all (a 429 that says "go now" contradicts
        itself): like a 429 with none, it holds for the window's spacing, never for nothing,
        or every refused request would be resent at once. The spacing is at the limit the
        429 names, else the one we keep, else what the window let through: a whole assumed
        window (the limit taken as 1) was a minute of nothing after the opening burst.
        """
        hint = error.retry_after if error.retry_after is not None else error.reset_after
        if hint is None or hint <= 0:
            limit = error.limit if error.limit is not None and error.limit > 0 else None
            if limit is None:
                limit = self.rate.limit if self.rate is not None else self.starts.rate.count(now)
            hint = self.window_seconds / max(1, limit)
        return hint

    def rate_limited(
        self,
        seq: int,
        started_at: float,
        error: RateLimited,
        *,
        hint: float,
        now: float,
        paused_until: float,
        last_seq: int,
    ) -> None:
        """A 429 for the start numbered ``seq``: skew, a lesson, or a surprise to cut for."""
        self.rate_limited_total += 1
        # Only refusals still inside the window are ever forgotten (``reconcile``).
        horizon = now - self.starts.rate.keep
        self._refused = deque((at for at in self._refused if at > horizon), maxlen=_HISTORY)
        self._refused.append(started_at)
        if self._is_skew(error, hint, now):
            self.margin.skew_total += 1
            if self.margin.widen(seq, hint, last_seq=last_seq):
                self.starts.set_margin(self.margin.value)
            return
        taught = self.learn(error.limit)
        if error.remaining is None or error.remaining <= 0:
            # A refusal with room left by its own figures was not the request window's
            # (another limit, a relay's): its reset names no window of our starts.
            reset = error.reset_after
            if reset is None and not (self._window_configured or self.window_learned):
                reset = error.retry_after
            taught = (
                self.learn_reset(
                    now, reset, limit=error.limit, remaining=0, sent_at=started_at, refused=True
                )
                or taught
            )
        if seq <= self._cut_seq:
            return  # started before the last cut: this episode has already been answered
        if started_at in self._probes:
            return  # a probe past our own window's edge was expected to be refused
        if taught and self.rate is not None:
            # The 429 taught the limit or the window: our ignorance, not congestion. No cut
            # and no pacing: our window (which counts the refused starts too) already knows
            # when slots free.
            pass
        elif self.rate is None:
            # No figures at all: half of what the window let through is a safe new start.
            passed = max(1, self.starts.rate.count(now))
            self.rate = Aimd(passed * self._decrease, decrease=self._decrease)
            self._pace_after(paused_until)
        else:
            # A surprise: someone else shares the account, or the windows are misaligned.
            self.rate.cut()
            self._pace_after(paused_until)
        self._cut_seq = last_seq
        # Recovery counts clean windows from the end of the pause, not from the 429.
        self._last_change = max(now, paused_until)
        self._saturated = False

    def learn(self, limit: int | None) -> bool:
        """Take the upstream's X-RateLimit-Limit; say whether it taught a new ceiling.

        The upstream's explicit figure beats the configured rate in both directions (a
        too-high ``UPSTREAM_RPM`` is lowered, a too-low one raised); a figure equal to the
        setting teaches nothing.
        """
        if limit is None or limit < 1:
            return False
        rate = self.rate
        if rate is not None and rate.ceiling == limit:
            return False
        self.learned_limit = limit
        if rate is None:
            self.rate = Aimd(limit, ceiling=limit, decrease=self._decrease)
        else:
            at_ceiling = rate.at_ceiling
            rate.ceiling = limit
            if at_ceiling:
                rate.value = limit  # not cut back by congestion: take the new figure at once
        return True

    def learn_reset(
        self,
        now: float,
        reset_after: float | None,
        *,
        limit: int | None,
        remaining: int | None,
        sent_at: float,
        refused: bool = False,
    ) -> bool:
        """The upstream's oldest counted start leaves its window in ``reset_after`` seconds.

        Matched against our own starts (see the module's docstring) this names the window;
        say whether it changed ours. ``sent_at``: when the answered request was sent.
        ``refused``: the reset came with a 429.
        """
        if reset_after is None or reset_after <= 0:
            return False
        known = limit if limit is not None else self.rate.limit if self.rate else None
        needed = max(1, known - (remaining or 0)) if known is not None else 1
        exact = known is not None and not refused
        readings = [
            window
            for window in self._readings(now + reset_after, now, needed, sent_at, exact=exact)
            if window <= self._longest_window
        ]
        if not readings:
            return False
        current = self.window_seconds
        if refused:
            # The latest start that fits (the readings before it pass only because a
            # refusal's count is a floor), unless the window we keep is one of them.
            confirmed = any(abs(w - current) <= _WINDOW_TOLERANCE * current for w in readings)
            window = current if confirmed else min(readings)
        elif self._window_configured:
            named = self._named_by_a_success(readings)
            if named is None:
                return False
            window = named
        else:
            # Every reading fits the figures; the one nearest the window we keep moves it
            # least (a start's arrival lags our count by up to a margin, so the right
            # reading may be a little off, and a start before it may fit as well).
            window = min(readings, key=lambda w: abs(math.log(w / current)))
        changed = abs(window - current) > _WINDOW_TOLERANCE * current
        if changed:
            self._set_window(window)
        self.window_learned = True  # learned, or confirmed: the current window stands
        if refused:
            self._keep_wide_of_a_strict_edge()
        return changed

    def _named_by_a_success(self, readings: list[float]) -> float | None:
        """The window a success's ``readings`` move a configured window to (``None``: it
        stays; see the module's docstring).

        A reading of the right start is never shorter than the upstream's window: our start
        reached it after we counted it, and the answer was read after its figures were
        written, so every reading runs long by those delays (0.1-0.6 s under load). A longer
        reading is that delay, not a longer window (one really longer says so itself: a
        "0 remaining" pauses until its reset, a 429's reset names it), so it only confirms.
        A shorter one is either the upstream's real window or a later start matched in the
        right one's place (a start the upstream had not counted yet, a refusal it did not
        count): the window shortens only when the answer names one window alone and the
        next answer that does not fit the window names a shorter one alone too (to the
        longer of the two). The right window is named by every answer; a mismatch rarely
        twice in a row.
        """
        current = self.window_seconds
        floor = current * (1 - _WINDOW_TOLERANCE)
        if any(window >= floor for window in readings):
            self._shorter = None
            self.window_learned = True  # the window we keep fits the figures
            return None
        if len(readings) > 1:
            return None  # several starts fit: the answer names no window
        named, first = readings[0], self._shorter
        if first is None:
            self._shorter = named
            return None
        self._shorter = None
        return max(first, named)

    def _keep_wide_of_a_strict_edge(self) -> None:
        """An upstream that refused at its edge gets the wider margin from the start.

        Its window was matched against the arrival of one of our starts, and its refusals may
        count against it: a burst that meets its edge early costs a refusal per request, so
        the margin starts where skew 429s would otherwise widen it to.
        """
        if self._margin_configured:
            return
        margin = self.margin
        wide = min(self.window_seconds * SKEW_SHARE, max(_MAX_DEFAULT_MARGIN, margin.value))
        if wide > margin.value:
            margin.value = wide
            margin.widest = max(margin.widest, wide)
            self.starts.set_margin(wide)

    def _readings(
        self, leaves_at: float, now: float, needed: int, sent_at: float, *, exact: bool
    ) -> list[float]:
        """Every window in which one of our starts is the oldest one counted, leaving at
        ``leaves_at``, by figures the upstream wrote at some moment ``h`` between the
        answered request's send (``sent_at``) and ``now``.

        That start was sent no later than the answered request (which the upstream counts
        at ``h``); the start before it had left the window by ``h``; and ``needed`` starts
        from it on are counted at ``h`` (``exact``: exactly that many, as a success's
        remaining says; a refusal's count is only a floor, since some upstreams count
        refused requests too). Starts made after ``h`` (by a fleet's other workers, or
        while the answer was on its way) are not counted: matched blindly, they name a
        later start, hence a window far too short.
        """
        starts = sorted(at for at in self._history if at <= now)
        # A start reaches the upstream up to a margin after we counted it (the jitter the
        # margin is kept for): the previous start may have left that much later, and the
        # starts of the last margin before a moment may not be counted yet (but the
        # answered request is).
        jitter = self.margin.value
        readings: list[float] = []
        for index in range(bisect.bisect_right(starts, sent_at) - 1, -1, -1):
            window = leaves_at - starts[index]
            previous = starts[index - 1] if index > 0 else self._history_lost
            earliest = max(sent_at, previous + window - jitter)
            latest = min(now, leaves_at)
            if earliest > latest + 1e-6:
                continue
            if exact:
                counted_first = bisect.bisect_right(starts, earliest - jitter) - index
                counted_first += 1 if sent_at > earliest - jitter else 0
                counted_last = bisect.bisect_right(starts, latest) - index
                if not counted_first <= needed <= counted_last:
                    continue
            elif bisect.bisect_right(starts, sent_at) - index < needed:
                continue
            readings.append(window)
        return readings

    def _set_window(self, window: float) -> None:
        margin = self.margin
        if not self._margin_configured:
            # A margin widened by edge 429s (or a strict edge) was earned against the
            # upstream's jitter, which a new window does not change: it is kept (within
            # the new window's share). Reset to the default, it drew the same 429s again.
            widened = margin.value > default_margin(self.window_seconds) + 1e-9
            kept = min(margin.value, window * SKEW_SHARE) if widened else 0.0
            margin.value = max(default_margin(window), kept)
        self.window_seconds = window
        self.window_learned = True
        margin.widest = max(margin.value, window * SKEW_SHARE)
        self.starts.seconds = window
        self.starts.set_margin(margin.value)
        self.starts.rate.keep = window + 3 * margin.widest

    def _pace_after(self, paused_until: float) -> None:
        self._paced_until = max(self._paced_until, paused_until + self.window_seconds)

    def _is_skew(self, error: RateLimited, hint: float, now: float) -> bool:
        """A 429 at our known full rate that asks for a moment only: windows misaligned.

        Whatever the margin: at its widest too, the upstream's window full of our own starts
        says the jitter outgrew the margin's cap, not that the limit is lower (a lower limit
        is named, or refuses with our window not full, or asks for more than a moment)."""
        rate = self.rate
        if rate is None or error.retry_after is None:
            return False
        if error.limit is not None and error.limit < rate.limit:
            return False  # the upstream names a lower limit: that is a lesson, not skew
        if hint > self.window_seconds * SKEW_SHARE:
            return False
        # Could the upstream's window, ``hint`` and a margin behind ours, hold ``rate`` of our
        # starts besides the refused one? Then it is our own starts it counts: skew.
        since = now - self.window_seconds - self.margin.widest - hint
        return self.starts.rate.count_since(since, now) - 1 >= rate.limit
