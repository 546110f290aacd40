"""The settings of one credential's gate, in one frozen value.

``services`` builds it from ``Settings``; the registry hands the same value to every gate it
makes; tests build it directly. Validation lives here so that every gate is built valid.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GateConfig:
    """How fast one upstream credential may be used.

    ``rate`` starts per ``window`` seconds (``None``: learn it from the upstream),
    ``per_day`` starts per 24 hours, at most ``max_in_flight`` requests at once.
    ``margin`` seconds keep starts off the upstream's window edge (``None``: derived from
    the window). ``decrease`` is AIMD's multiplicative cut. ``max_pause`` caps every wait
    an upstream asks for (``UPSTREAM_MAX_PAUSE_SECONDS``); a longer one reports the
    credential as blocked instead of pausing for it. ``probe_gap`` spaces starts (wall
    seconds, never scaled) while no limit is known, so that the first 429 stops the
    opening burst before it becomes a storm of refusals the upstream counts.
    ``window_configured``: ``window`` was set by the operator rather than assumed. Either
    way an explicit reset (``X-RateLimit-Reset``) teaches the real window; a bare
    ``Retry-After`` (often a generic "try again later") does so only for an assumed one.
    """

    rate: int | None = None
    window: float = 60.0
    per_day: int | None = None
    max_in_flight: int = 32
    margin: float | None = None
    decrease: float = 0.5
    max_pause: float = 900.0
    probe_gap: float = 0.0
    window_configured: bool = True

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate < 1:
            raise ValueError("rate must be at least 1")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if self.window <= 0:
            raise ValueError("window must be positive")
        if not 0 < self.decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        if self.probe_gap < 0:
            raise ValueError("probe_gap must not be negative")
        if self.max_pause <= 0:
            raise ValueError("max_pause must be positive")
