"""The in-flight cap of one gate: how many requests may be open at once, with AIMD.

503s and timeouts (``TransientProviderError.overload``) cut the cap, once per episode
(requests that started before the last cut do not cut again). Like TCP's congestion window
it grows by one after ``cap`` clean successes that completed while the cap was the limit:
growing a cap that is never reached would learn nothing.
"""

from __future__ import annotations

from slidebatch.scheduler.aimd import Aimd


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

    def succeeded(self, seq: int) -> None:
        """The request started as number ``seq`` succeeded (its slot already freed)."""
        if self._hit and seq > self._cut_seq:
            self._clean_successes += 1
            if self._clean_successes >= self._cap.limit:
                self._cap.grow(1)
                self._clean_successes = 0
                self._hit = False

    def overloaded(self, seq: int, *, in_use: int, last_seq: int) -> None:
        """Request ``seq`` met an overload while ``in_use`` were open; ``last_seq`` so far."""
        self.overload_total += 1
        if seq > self._cut_seq:
            self._cap.cut(basis=in_use)
            self._cut_seq = last_seq
            self._clean_successes = 0
