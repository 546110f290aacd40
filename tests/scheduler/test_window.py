"""Sliding-window accounting of request starts."""

from __future__ import annotations

from slidebatch.scheduler.window import SlidingWindow


def test_burst_then_wait_for_the_oldest_start() -> None:
    """R starts fit at once; the next fits when the oldest leaves the window."""
    window = SlidingWindow(60.0)
    for at in (0.0, 1.0, 2.0):
        assert window.next_free(at, 3) == at
        window.record(at)
    assert window.next_free(2.0, 3) == 60.0
    assert window.next_free(60.0, 3) == 60.0
    assert window.count(60.0) == 2


def test_a_lower_limit_answers_later() -> None:
    """The limit is a question's argument, so AIMD can change it at any time."""
    window = SlidingWindow(10.0)
    for at in (0.0, 1.0, 2.0, 3.0):
        window.record(at)
    assert window.next_free(3.0, 4) == 10.0
    assert window.next_free(3.0, 2) == 12.0
    assert window.next_free(3.0, 5) == 3.0


def test_forget_uncounts_a_start() -> None:
    """An abandoned start frees its slot at once."""
    window = SlidingWindow(10.0)
    window.record(1.0)
    window.forget(1.0)
    assert window.count(1.0) == 0


def test_kept_starts_count_since_but_not_in_the_window() -> None:
    """Starts older than the window but within ``keep`` count for count_since only."""
    window = SlidingWindow(10.0, keep=15.0)
    window.record(0.0)
    window.record(8.0)
    assert window.count(12.0) == 1
    assert window.count_since(-1.0, 12.0) == 2
    assert window.next_free(12.0, 1) == 18.0
    assert window.count_since(-1.0, 16.0) == 1  # 0.0 is now older than keep
