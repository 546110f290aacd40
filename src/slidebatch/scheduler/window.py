"""Sliding-window accounting of request starts: "when is the next slot free".

A request started at ``t`` occupies one slot of a window of ``W`` seconds until ``t + W``;
at most ``limit`` starts may lie in any window, and the opening burst (``limit`` at once)
is allowed. The limit is an argument of each query, not a property of the window, because
the gate's AIMD changes it at run time.

Why not pyrate-limiter or limits: both were looked at. pyrate-limiter (installed, 4.x) keeps
integer-millisecond timestamps from its own clock classes, fixes the rates on the bucket,
answers "how long to wait" only as a side effect of a refused ``put`` (which it also
records), and guards every call with a thread lock; limits reads ``time.time()`` inside its
storages, so an injected clock is impossible. What the gate needs, exact float times on
the injected clock and a limit that changes between two questions, is a deque of start
times and two lines of arithmetic, so it is written here.
"""

from __future__ import annotations

import contextlib
from collections import deque


class SlidingWindow:
    """Start times of the last ``window`` seconds (remembered for ``keep`` seconds)."""

    def __init__(self, window: float, *, keep: float | None = None) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window  # the gate may widen it, never beyond ``keep``
        # Kept a little longer than the window so that the gate can tell, after a 429,
        # whether the upstream's window (a little behind ours) could still be full of ours.
        self.keep = window if keep is None else max(window, keep)
        self._starts: deque[float] = deque()

    def record(self, at: float) -> None:
        """Count a request started at ``at`` (times are recorded in order)."""
        if self._starts and at < self._starts[-1]:
            # Out of order only by float noise or an abandoned-then-retried permit: keep sorted.
            items = sorted([*self._starts, at])
            self._starts = deque(items)
        else:
            self._starts.append(at)

    def forget(self, at: float) -> None:
        """Un-count a start that never reached the upstream."""
        with contextlib.suppress(ValueError):
            self._starts.remove(at)

    def count(self, now: float) -> int:
        """Starts still inside the window at ``now``."""
        return self.count_since(now - self.window, now)

    def count_since(self, since: float, now: float) -> int:
        """Starts after ``since`` (only the last ``keep`` seconds are remembered)."""
        self._prune(now)
        count = 0
        for at in reversed(self._starts):
            if at <= since:
                break
            count += 1
        return count

    def next_free(self, now: float, limit: int) -> float:
        """Earliest time >= ``now`` at which one more start keeps ``limit`` per window."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._prune(now)
        if len(self._starts) < limit:
            return now
        # The start that must leave the window before one more fits.
        return max(now, self._starts[-limit] + self.window)

    def times(self) -> tuple[float, ...]:
        """The start times remembered, oldest first."""
        return tuple(self._starts)

    def last_start(self) -> float | None:
        """The most recent start still remembered."""
        return self._starts[-1] if self._starts else None

    def _prune(self, now: float) -> None:
        horizon = now - max(self.window, self.keep)
        while self._starts and self._starts[0] <= horizon:
            self._starts.popleft()


DAY_SECONDS = 86_400.0


class StartWindows:
    """A gate's record of starts: the rate window (plus its margin) and the 24-hour window."""

    def __init__(self, window: float, *, margin: float, max_margin: float, per_day: int | None):
        self.seconds = window
        self.per_day = per_day
        self.rate = SlidingWindow(window + margin, keep=window + 3 * max_margin)
        self.day = SlidingWindow(DAY_SECONDS) if per_day is not None else None

    def record(self, at: float) -> None:
        """Count a start at ``at`` in both windows."""
        self.rate.record(at)
        if self.day is not None:
            self.day.record(at)

    def forget(self, at: float) -> None:
        """Un-count a start the upstream never counted."""
        self.rate.forget(at)
        if self.day is not None:
            self.day.forget(at)

    def set_margin(self, margin: float) -> None:
        """Keep starts ``margin`` seconds further than the window from the edge."""
        self.rate.window = self.seconds + margin

    def next_free(self, now: float, limit: int | None) -> float:
        """Earliest time >= ``now`` at which one more start keeps both limits."""
        at = now
        if self.day is not None and self.per_day is not None:
            at = max(at, self.day.next_free(now, self.per_day))
        if limit is not None:
            at = max(at, self.rate.next_free(now, limit))
        return at

    def today(self, now: float) -> int | None:
        """Starts of the last 24 hours, when a daily limit is kept."""
        return self.day.count(now) if self.day is not None else None
