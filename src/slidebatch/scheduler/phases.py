"""Where an attempt's time goes, phase by phase: the in-flight slot's account.

When the in-flight cap binds, the makespan is the slots' time divided among the slides, so
every moment a slot is held without a request at the upstream is lost outright. The
dispatcher reports, per attempt, how long each phase took on its clock (seconds):

* ``starting``: the permit is in hand, the request has not left (the 'generating' write,
  which must be stored before the upstream can be paid): the slot is held, the upstream idle;
* ``upstream``: the request left, its answer is not read yet (network both ways, the
  upstream's work, reading and checking the answer); the slot is held;
* ``reporting`` (successes): the answer is in hand, its report runs (the image stored, the batch
  counted); the slot is free already unless the batch is gated (``max_cost``).

``/metrics`` shows them as ``slidebatch_attempt_phase_seconds{phase}``; the load bench
subtracts them from ``cap x makespan`` to tell where the gap to the bound goes.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class AttemptPhase(StrEnum):
    """One stretch of an attempt, from its permit to its report."""

    STARTING = "starting"
    UPSTREAM = "upstream"
    REPORTING = "reporting"


# Told each phase's length in seconds as it ends (never raises into the dispatcher).
PhaseObserver = Callable[[AttemptPhase, float], None]


def ignore_phase(phase: AttemptPhase, seconds: float) -> None:
    """The observer of a dispatcher nobody measures."""
