"""How a fleet gate's worker times its starts: the fleet clock's offset and a round's lead.

Both are measured from this worker's own rounds with the database (``fleet/pg_gate.py``):

* **Offset** (fleet seconds minus local seconds). The database reads its clock somewhere
  between the local clock's reading before the statement and the one after it returned, so
  each round bounds the offset: ``fleet - after <= offset <= fleet - before``. The gate
  uses the tightest lower bound of the recent rounds (the quickest round trip gives it):
  a local instant computed from it is never earlier than the fleet instant it stands for,
  so a request sent at its granted instant never reaches the upstream before the start
  the window counted (which would eat the window's margin). When a test injects the fleet
  clock, both clocks are read together and the offset is exact.
* **Lead**. A round (waiting for the scope's row lock, the statements, the commit) takes
  time; a start decided at the lock but sent after the commit reaches the upstream that
  much later than the window counted it, and by a different amount each time (the spread
  is what made the upstream answer 429 at window edges). So a waiter begins its round a
  lead before the next slot frees, the round grants the slot *for the instant it frees*
  (that instant is recorded as the start), and the worker sleeps until that instant and
  sends: the request leaves when its start is counted, whatever the round took, up to the
  lead. The lead is twice the slowest of the recent rounds, at most a twentieth of the
  window (a round slower than that sends late, as before).
"""

from __future__ import annotations

from collections import deque

SAMPLES = 16  # recent rounds the offset and the lead are judged on
LEAD_SHARE = 0.05  # the lead never exceeds this share of the window
LEAD_FACTOR = 2.0  # the lead is this many times the slowest recent round
LATE_SHARE = 0.25  # a permit handed out later than this share of the margin is re-counted


class GateTiming:
    """The offset to the fleet's clock and the lead of a grant, from recent rounds."""

    def __init__(self, *, samples: int = SAMPLES) -> None:
        self._bounds: deque[tuple[float, float]] = deque(maxlen=samples)
        self._rounds: deque[float] = deque(maxlen=samples)
        self.offset = 0.0

    def observe(self, fleet_now: float, local_before: float, local_after: float) -> None:
        """The fleet clock read ``fleet_now`` while the local clock went from ``local_before``
        to ``local_after`` (equal when both were read together)."""
        low, high = fleet_now - local_after, fleet_now - local_before
        if self._bounds and (
            low > min(h for _, h in self._bounds) or high < max(lo for lo, _ in self._bounds)
        ):
            self._bounds.clear()  # the clocks moved apart (a stepped clock): start over
        self._bounds.append((low, high))
        self.offset = max(lo for lo, _ in self._bounds)

    def round_took(self, seconds: float) -> None:
        """One round with the database took ``seconds`` (local clock, lock wait included)."""
        self._rounds.append(max(0.0, seconds))

    def lead(self, window: float) -> float:
        """How long before a slot frees a round begins (and is granted for that instant)."""
        slowest = max(self._rounds, default=0.0)
        return min(window * LEAD_SHARE, LEAD_FACTOR * slowest)
