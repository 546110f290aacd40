"""Additive increase, multiplicative decrease of one limit (TCP's congestion rule).

The gate keeps two: requests per window (cut on 429) and requests in flight (cut on 503s
and timeouts). When to cut and when to grow is the gate's business; this only keeps the
value between its floor and its ceiling.
"""

from __future__ import annotations

import math


class Aimd:
    """A limit that halves (``decrease``) on trouble and creeps back up by steps."""

    def __init__(
        self,
        value: float,
        *,
        ceiling: float | None = None,
        floor: float = 1.0,
        decrease: float = 0.5,
    ) -> None:
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self.floor = floor
        self.decrease = decrease
        self._ceiling = ceiling
        self.value = self._clamp(value)

    @property
    def ceiling(self) -> float | None:
        """The most this limit may grow to (``None``: no known ceiling)."""
        return self._ceiling

    @ceiling.setter
    def ceiling(self, ceiling: float | None) -> None:
        self._ceiling = ceiling
        self.value = self._clamp(self.value)

    @property
    def limit(self) -> int:
        """The whole number of requests the limit allows now (at least the floor)."""
        return max(int(self.floor), math.floor(self.value + 1e-9))

    @property
    def at_ceiling(self) -> bool:
        """True when growing would change nothing."""
        return self._ceiling is not None and self.value >= self._ceiling

    def cut(self, basis: float | None = None) -> None:
        """Multiplicative decrease, from ``basis`` (what was really in use) if lower."""
        start = self.value if basis is None else min(self.value, basis)
        self.value = self._clamp(start * self.decrease)

    def grow(self, step: float = 1.0) -> None:
        """Additive increase up to the ceiling."""
        self.value = self._clamp(self.value + step)

    def _clamp(self, value: float) -> float:
        value = max(self.floor, value)
        if self._ceiling is not None:
            value = min(self._ceiling, value)
        return value
