"""The bench's goals: the ratio goal judged against both bounds, each named for what it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from slidebatch.bench.environment import EnvironmentConfig, server_env
from slidebatch.bench.figures import RunFigures
from slidebatch.bench.naive import seed_wait
from slidebatch.bench.report import BenchReport, render_text


def row(name: str, makespan: float, bound: float, in_order: float) -> RunFigures:
    return RunFigures(
        name=name,
        system="slidebatch",
        slides=10,
        successful=10,
        makespan=makespan,
        bound=bound,
        bound_in_order=in_order,
        requests=10,
        rate_limited=0,
        paid=10,
    )


def report(*rows: RunFigures) -> BenchReport:
    return BenchReport(
        time_scale=0.1,
        rows=rows,
        fairness=None,
        fault=None,
        fault_row=None,
        binding=(),
        elapsed_wall=1.0,
    )


def test_both_bounds_are_judged_and_the_unreachable_one_is_named() -> None:
    """Within 1.10 of T_seq but not of T*, where T_seq/T* > 1.10: the detail says why."""
    goals = {g.name.split(",")[0]: g for g in report(row("fair", 148.0, 127.0, 144.0)).goals()}
    reachable = goals["every run within 1.10 of T_seq"]
    spec = goals["every run within 1.10 of T*"]
    assert reachable.met
    assert "physically reachable" in reachable.name
    assert not spec.met
    assert "clairvoyant" in spec.name
    assert "out of reach for any scheduler without lookahead in: fair" in spec.detail


def test_spec_bound_met_when_close_enough() -> None:
    """Both goals are met when the run is within 1.10 of both bounds."""
    goals = report(row("deck", 136.0, 127.0, 135.0)).goals()
    assert all(goal.met for goal in goals)
    assert "out of reach" not in " ".join(goal.detail for goal in goals)


def test_header_names_the_scale_and_both_bounds() -> None:
    """The text output says what the scale means in wall time and which bound is which."""
    text = render_text(report(row("deck", 136.0, 127.0, 135.0)))
    assert "a 60 s window passes in 6 s wall" in text
    assert "(physically reachable)" in text
    assert "(clairvoyant)" in text


def test_the_429_goal_is_judged_per_run_and_names_the_worst() -> None:
    """2 of 52 in one run misses 2% even when the total share is lower; the detail says where."""
    busy = RunFigures("deck", "slidebatch", 50, 50, 140.0, 127.0, 138.0, 52, 2, 50)
    clean = RunFigures("many", "slidebatch", 120, 120, 330.0, 306.0, 324.0, 120, 0, 120)
    (goal,) = [g for g in report(busy, clean).goals() if g.name.startswith("429s")]
    assert not goal.met
    assert goal.detail == "2 of 172 requests overall; worst run 3.8% (deck: 2 of 52)"


def test_learn_limit_leaves_the_rate_unconfigured(tmp_path: Path) -> None:
    """--learn-limit starts the server without UPSTREAM_RPM; the default configures it."""
    base = "http://127.0.0.1:1/api/v1"
    learned = server_env(EnvironmentConfig(tmp_path, 0.1, configured_limit=False), base)
    configured = server_env(EnvironmentConfig(tmp_path, 0.1), base)
    assert "UPSTREAM_RPM" not in learned
    assert configured["UPSTREAM_RPM"] == "20"
    assert learned["UPSTREAM_RATE_WINDOW_SECONDS"] == "6"
    nothing = server_env(
        EnvironmentConfig(tmp_path, 0.1, configured_limit=False, configured_window=False), base
    )
    assert "UPSTREAM_RPM" not in nothing
    assert "UPSTREAM_RATE_WINDOW_SECONDS" not in nothing


def test_faster_than_naive_is_judged_only_where_naive_finished() -> None:
    """A baseline that lost slides is not a yardstick: slower than it is not 'met'."""
    ours = RunFigures("deck", "slidebatch", 50, 50, 140.0, 127.0, 138.0, 50, 0, 50)
    lost = RunFigures("deck", "naive", 50, 40, 120.0, 127.0, 138.0, 80, 30, 50)
    result = BenchReport(
        time_scale=0.1,
        rows=(ours, lost),
        fairness=None,
        fault=None,
        fault_row=None,
        binding=("deck",),
        elapsed_wall=1.0,
    )
    (goal,) = [g for g in result.goals() if g.name.startswith("faster")]
    assert not goal.judged
    assert "[n/a] faster" in render_text(result)
    assert "not compared: deck: 140.0 s vs 120.0 s (naive lost 10 of 50 slides)" in goal.detail


def test_the_naive_baseline_waits_like_the_seeds_tenacity_decorator() -> None:
    """wait_exponential(min=4, max=10): 4, 4, 4, 8, 10 s after attempts 1..5, times the scale."""
    assert [seed_wait(n, 1.0) for n in range(1, 6)] == [4, 4, 4, 8, 10]
    assert seed_wait(1, 0.1) == pytest.approx(0.4)
