"""The fleet gate's timing: the offset to the fleet's clock and the lead of a grant."""

from __future__ import annotations

import pytest

from slidebatch.fleet.gate_timing import GateTiming


def test_the_offset_is_the_tightest_lower_bound_of_recent_rounds() -> None:
    """A local instant computed from the offset is never earlier than the fleet's instant."""
    timing = GateTiming()
    # True offset 90: the database read 100.0 while the local clock went 9.9 -> 10.2.
    timing.observe(100.0, 9.9, 10.2)
    assert timing.offset == 100.0 - 10.2
    # A quicker round (read at local 20.05, round trip 9.99..20.06) tightens the bound.
    timing.observe(110.05, 19.99, 20.06)
    assert 89.98 < timing.offset <= 90.0
    # A slow round later does not loosen it.
    timing.observe(120.0, 29.5, 30.5)
    assert 89.98 < timing.offset <= 90.0


def test_a_stepped_clock_starts_the_offset_over() -> None:
    """Bounds that no longer overlap mean the clocks moved apart: the newest round counts."""
    timing = GateTiming()
    timing.observe(100.0, 10.0, 10.0)
    timing.observe(105.0, 10.0, 10.0)  # the fleet's clock stepped 5 s
    assert timing.offset == 95.0


def test_the_lead_follows_the_slowest_recent_round_within_a_share_of_the_window() -> None:
    """Twice the slowest recent round, never more than a twentieth of the window."""
    timing = GateTiming(samples=3)
    assert timing.lead(60.0) == 0.0
    timing.round_took(0.05)
    timing.round_took(0.2)
    assert timing.lead(60.0) == 0.4
    assert timing.lead(6.0) == pytest.approx(0.3)
    for _ in range(3):
        timing.round_took(0.01)
    assert timing.lead(60.0) == 0.02
