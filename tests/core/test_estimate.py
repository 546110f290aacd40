"""Batch time estimates from the rate limit, latency and a worker cap (pure)."""

from __future__ import annotations

import pytest

from slidebatch.core.estimate import (
    UpstreamFigures,
    estimate_seconds,
    format_duration,
    workers_to_saturate,
)

FREE_TIER = UpstreamFigures(rate=20, window=60.0, latency=9.0)


def test_rate_windows_bind_for_large_decks() -> None:
    """50 slides at 20 per minute need three windows: two full minutes, then one latency."""
    assert estimate_seconds(50, FREE_TIER, None) == 2 * 60 + 9


def test_worker_cap_binds_when_it_is_slower_than_the_rate() -> None:
    """5 slides on 2 workers take three rounds of latency."""
    assert estimate_seconds(5, FREE_TIER, 2) == 3 * 9


def test_both_limits_together_cost_more_than_either_alone() -> None:
    """5 workers under 20/min: the third window's 10 slides need two rounds (138 s)."""
    assert estimate_seconds(50, FREE_TIER, 5) == 138.0


def test_huge_decks_use_the_closed_form() -> None:
    """Beyond the exact range, the larger of the two single-limit figures."""
    assert estimate_seconds(4000, FREE_TIER, None) == 60 * (3999 // 20) + 9


def test_no_limit_and_no_cap_is_one_latency() -> None:
    """Without a rate limit or a cap, everything runs at once."""
    assert estimate_seconds(100, UpstreamFigures(rate=None, window=60, latency=2.0), None) == 2.0
    assert estimate_seconds(0, FREE_TIER, None) == 0.0


def test_workers_to_saturate_is_rate_times_latency() -> None:
    """20/min at 9 s each needs 3 workers in flight (Little's law, rounded up)."""
    assert workers_to_saturate(FREE_TIER) == 3
    assert workers_to_saturate(UpstreamFigures(rate=None, window=60, latency=9)) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.3, "<1s"), (8.4, "8s"), (75.2, "1m 15s"), (3725, "1h 2m")],
)
def test_durations_read_like_people_write_them(seconds: float, text: str) -> None:
    """Durations are formatted as s, m s or h m; under half a second is '<1s'."""
    assert format_duration(seconds) == text
