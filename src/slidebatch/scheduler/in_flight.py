"""The in-flight cap of one gate: how many requests may be open at once, with AIMD.

503s and timeouts (``TransientProviderError.overload``) cut the cap, once per episode
(requests that started before the last cut do not cut again), but only when they are the
pattern and not the exception: at least half of the last ``OVERLOAD_SAMPLE`` answers were
overloads. A hang here and a 503 there happen on every real upstream whatever our
concurrency (the fault mix of the bench: 3% 503s and 5% hangs), and the 503's own
``Retry-After`` pause is the gate's answer to it; an upstream that our concurrency overloads
fails most of what we send, which independent faults at 10% almost never do (four of eight:
p < 0.005). The cut starts from the most requests that were open when those overloads came,
never from a lone hung request's count: one request open when it timed out says nothing
about what thirty would do. Like TCP's congestion window it grows by one after ``cap``
clean successes that completed while the cap was the limit: growing a cap that is never
reached would learn nothing.
"""

from __future__ import annotations

from collections import deque

from slidebatch.scheduler.aimd import Aimd

OVERLOAD_SAMPLE = 8  # the answers (successes, failures, overloads) a cut is judged on
_OVERLOAD_SHARE = 0.5  # this share of them overloads: the upstream, not bad luck


class InFlightCap:
    """Open requests and their AIMD cap."""

    def __init__(self, max_in_flight: int, *, decrease: float) -> None:
        self.max_in_flight = max_in_flight
        self._cap = Aimd(max_in_flight, ceiling=max_in_flight, decrease=decrease)
        self.in_flight = 0
        self.overload_total = 0
        self._cut_seq = 0  # permits up to this start number belong to the last cut's episode
        self._clean_successes = 0
        self._hit = False  # the cap limited dispatch since it last grew
        # The last answers: requests open at an overload, or None for any other answer.
        self._recent: deque[int | None] = deque(maxlen=OVERLOAD_SAMPLE)

    @property
    def limit(self) -> int:
        return self._cap.limit

    def full(self) -> bool:
        """True when no more may start; remembers that the cap was the limit."""
        if self.in_flight >= self._cap.limit:
            self._hit = True
            return True
        return False

    def take(self) -> None:
        """One more request is open."""
        self.in_flight += 1
        if self.in_flight >= self._cap.limit:
            self._hit = True

    def free(self) -> None:
        """One request is closed."""
        self.in_flight -= 1

    def answered(self) -> None:
        """A request failed in a way that is not overload (its slot already freed)."""
        self._recent.append(None)

    def succeeded(self, seq: int) -> None:
        """The request started as number ``seq`` succeeded (its slot already freed)."""
        self._recent.append(None)
        if self._hit and seq > self._cut_seq:
            self._clean_successes += 1
            if self._clean_successes >= self._cap.limit:
                self._cap.grow(1)
                self._clean_successes = 0
                self._hit = False

    def overloaded(self, seq: int, *, in_use: int, last_seq: int) -> None:
        """Request ``seq`` met an overload while ``in_use`` were open; ``last_seq`` so far."""
        self.overload_total += 1
        self._recent.append(in_use)
        open_at = [count for count in self._recent if count is not None]
        if seq <= self._cut_seq or len(open_at) < OVERLOAD_SAMPLE * _OVERLOAD_SHARE:
            return
        self._cap.cut(basis=max(open_at))
        self._cut_seq = last_seq
        self._clean_successes = 0
        self._recent.clear()  # the next cut is judged on answers after this one
