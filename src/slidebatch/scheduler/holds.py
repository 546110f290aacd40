"""Why a gate may not start anything right now: pauses, parks and blocks.

* A *pause* is a wait the upstream asked for (``Retry-After``, a reset with nothing
  remaining, a 503's delay). Every pause is capped at ``max_pause``: an upstream that asks
  for a day (or for 99999999 s) does not freeze every batch of the credential. A longer
  ask pauses for the cap only and marks the credential *blocked* until the instant asked
  for, so that ``/readyz``, the metrics and the batches can say so; the next success of a
  request started after that ask clears it (the upstream evidently changed its mind). A
  success of one sent before the ask shows no change of mind: clearing on it hid the block,
  and a batch read "waiting for the rate limit, next start in 881 s".
* A *park* is a stop for a reason waiting a little cannot fix (a spent daily quota, no
  credits): set by whoever read that answer, with its reason, until a stated instant.
"""

from __future__ import annotations

import math


class Holds:
    """The pause, the park and the block of one gate (times on the gate's clock)."""

    def __init__(self, *, max_pause: float) -> None:
        self.max_pause = max_pause
        self.paused_until = -math.inf
        self.parked_until = -math.inf
        self.park_reason: str | None = None
        self.blocked_until = -math.inf
        self.blocked_at = -math.inf  # when the last block was asked for

    def pause(self, now: float, seconds: float) -> None:
        """Hold every start for ``seconds`` from ``now``, at most ``max_pause``."""
        seconds = max(0.0, seconds)
        if seconds > self.max_pause:
            self.blocked_until = max(self.blocked_until, now + seconds)
            self.blocked_at = now
            seconds = self.max_pause
        self.paused_until = max(self.paused_until, now + seconds)

    def park(self, until: float, reason: str) -> None:
        """Hold every start until ``until`` for ``reason`` (a later park wins)."""
        if until >= self.parked_until:
            self.parked_until = until
            self.park_reason = reason

    def cleared(self, started_at: float = math.inf) -> None:
        """A request started at ``started_at`` succeeded: a block asked for before it is over."""
        if started_at >= self.blocked_at:
            self.blocked_until = -math.inf

    def until(self) -> float:
        """No start before this time."""
        return max(self.paused_until, self.parked_until)

    def paused(self, now: float) -> float | None:
        return self.paused_until if self.paused_until > now else None

    def parked(self, now: float) -> float | None:
        return self.parked_until if self.parked_until > now else None

    def reason(self, now: float) -> str | None:
        return self.park_reason if self.parked_until > now else None

    def blocked(self, now: float) -> float | None:
        return self.blocked_until if self.blocked_until > now else None
