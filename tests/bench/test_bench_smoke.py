"""Smoke test of ``slidebatch bench --quick``: every slidebatch run completes, the JSON is whole.

No timing assertions: figures depend on the machine; the bench prints them, tests do not judge them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slidebatch.bench.figures import makespan_in_order
from slidebatch.cli import app

RUN_FIELDS = {
    "name",
    "system",
    "slides",
    "successful",
    "success_rate",
    "makespan_s",
    "bound_s",
    "ratio",
    "bound_in_order_s",
    "ratio_in_order",
    "requests",
    "rate_limited",
    "rate_limited_share",
    "paid_attempts",
}


def test_in_order_bound_keeps_the_draw_order() -> None:
    """T_seq gives the i-th start the i-th latency: a long last request sets the makespan."""
    # 2 per window of 10: starts at 0, 0, 10; the long one drawn last cannot go first.
    assert makespan_in_order([1.0, 1.0, 8.0], rate=2, window=10.0) == 18.0
    assert makespan_in_order([8.0, 1.0, 1.0], rate=2, window=10.0) == 11.0
    assert makespan_in_order([3.0, 3.0, 3.0], rate=None, window=10.0, cap=1) == 9.0


def test_in_order_bound_charges_a_failed_attempt_its_slot_and_its_retry() -> None:
    """A failed request keeps its window slot, and its slide starts again only once it ended."""
    # Two slides, 2 per window of 10. The first request fails after 4 s: the retry of its
    # slide cannot start before 4 s, nor before the window has room (10 s), then takes 3 s.
    assert makespan_in_order([4.0, 1.0, 3.0], rate=2, window=10.0) == 13.0  # slots alone
    assert makespan_in_order([4.0, 1.0, 3.0], rate=None, window=10.0) == 4.0
    failed = [0.0, None, None]
    assert makespan_in_order([4.0, 1.0, 3.0], rate=None, window=10.0, retry_waits=failed) == 7.0
    assert makespan_in_order([4.0, 1.0, 3.0], rate=2, window=10.0, retry_waits=failed) == 13.0
    # A 503 asking for 5 s: the retry waits until 4 + 5.
    told = [5.0, None, None]
    assert makespan_in_order([4.0, 1.0, 3.0], rate=None, window=10.0, retry_waits=told) == 12.0


def test_in_order_bound_slides_its_window_with_the_starts() -> None:
    """The window counts from the actual starts: a retry that starts late pushes the next."""
    # One slide, 2 per window of 10, failing three times. Tries at 0 and 3 (the first
    # failed at 3), the third at 10 (window), failing at 11; the fourth must wait for the
    # window to let go of the start at 3: 13, not the fixed slot 10 (nor 11).
    latencies = [3.0, 3.0, 1.0, 1.0]
    waits = [0.0, 0.0, 0.0, None]
    assert makespan_in_order(latencies, rate=2, window=10.0, retry_waits=waits) == 14.0


@pytest.mark.slow
def test_quick_bench_runs_every_scenario_to_completion(tmp_path: Path) -> None:
    """--quick at a tiny scale: every slidebatch run is 100% successful, the JSON is whole."""
    result = CliRunner().invoke(
        app,
        ["bench", "--quick", "--json", "--time-scale", "0.01", "--workdir", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"time_scale", "runs", "fairness", "fault_mix", "goals"} <= report.keys()
    runs = report["runs"]
    assert {run["system"] for run in runs} == {"slidebatch", "naive"}
    for run in runs:
        assert run.keys() >= RUN_FIELDS
        if run["system"] == "slidebatch":
            assert run["success_rate"] == 1.0, run
            assert run["bound_s"] > 0
    fault = report["fault_mix"]
    assert fault["done"] == fault["slides"]
    assert fault["retries_logged"] >= sum(fault["faults"].values())
    assert report["fairness"]["small_slides"] == 3
    assert all({"name", "met", "detail"} <= goal.keys() for goal in report["goals"])


@pytest.mark.slow
def test_bench_crowd_quick_answers_every_watcher() -> None:
    """`slidebatch bench --crowd --quick`: every poll and every SSE stream is answered."""
    result = CliRunner().invoke(app, ["bench", "--crowd", "--quick"])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output
    assert "4 of 4 ran to the final event" in result.output
