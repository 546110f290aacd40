"""The physical makespan bound, pinned down by hand-computed cases."""

from __future__ import annotations

import pytest

from slidebatch.core.bound import makespan_bound, release_times


def test_unlimited_rate_is_the_longest_latency() -> None:
    """Without a rate or cap every request starts at 0, so the bound is max L."""
    assert makespan_bound([10.0, 20.0, 30.0], rate=None, window=60.0) == 30.0


def test_release_times_follow_the_window() -> None:
    """s_i = W * floor((i-1)/R): R at once, then the next R one window later."""
    assert release_times(5, rate=2, window=60.0) == [0.0, 0.0, 60.0, 60.0, 120.0]


def test_longest_first_into_the_earliest_slots() -> None:
    """[5, 50, 10] at 2 per 60 s: 50 and 10 start at 0, 5 at 60, so T* = 65."""
    assert makespan_bound([5.0, 50.0, 10.0], rate=2, window=60.0) == 65.0


def test_one_per_window_serialises_starts() -> None:
    """Three 1 s requests at 1 per 10 s: the last starts at 20 and ends at 21."""
    assert makespan_bound([1.0, 1.0, 1.0], rate=1, window=10.0) == 21.0


def test_bound_is_at_least_the_longest_latency() -> None:
    """A long first request dominates later short ones."""
    assert makespan_bound([1.0, 100.0], rate=1, window=1.0) == 100.0


def test_cap_of_one_is_the_sum() -> None:
    """One worker, no rate: the requests run back to back."""
    assert makespan_bound([3.0, 2.0, 1.0], rate=None, window=60.0, cap=1) == 6.0


def test_cap_uses_longest_first_list_scheduling() -> None:
    """[5,4,3,2] on 2 workers: 5 | 4, then 3 after 4 and 2 after 5: both end at 7."""
    assert makespan_bound([2.0, 3.0, 4.0, 5.0], rate=None, window=60.0, cap=2) == 7.0


def test_cap_and_rate_together() -> None:
    """2 per 10 s and one worker: 0-4, 4-8, then the third waits for its slot at 10."""
    assert makespan_bound([4.0, 4.0, 4.0], rate=2, window=10.0, cap=1) == 14.0


def test_empty_batch_takes_no_time() -> None:
    """No latencies, no time."""
    assert makespan_bound([], rate=20, window=60.0) == 0.0


def test_rejects_a_zero_cap() -> None:
    """A cap below one is a caller's bug."""
    with pytest.raises(ValueError, match="cap"):
        makespan_bound([1.0], rate=None, window=60.0, cap=0)
