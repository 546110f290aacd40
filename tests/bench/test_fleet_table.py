"""The fleet bench's printed tables: one row per repeat, the medians, the kill runs."""

from __future__ import annotations

from slidebatch.bench.figures import RunFigures
from slidebatch.bench.fleet import FleetReport, KillFigures, WindowUse
from slidebatch.bench.fleet_table import render_fleet


def _run(makespan: float, rate_limited: int = 0) -> RunFigures:
    return RunFigures(
        name="fleet of 3: 8 batches x 15 slides together",
        system="slidebatch",
        slides=120,
        successful=120,
        makespan=makespan,
        bound=300.0,
        bound_in_order=310.0,
        requests=120 + rate_limited,
        rate_limited=rate_limited,
        paid=120,
    )


def _kill(done_after: float) -> KillFigures:
    return KillFigures(
        slides=40,
        done=40,
        held_by_killed=3,
        repeats=1,
        stored_twice=0,
        recovery_s=13.3,
        lease_s=3.0,
        killed_slides_done_s=done_after,
    )


def test_each_repeat_is_a_row_and_the_median_is_of_the_ratios() -> None:
    report = FleetReport(workers=3, time_scale=0.1)
    report.runs += [_run(318.0), _run(330.0, rate_limited=2), _run(324.0)]
    report.windows += [WindowUse(idle=(1.0, 0.5, 2.0), early=()), WindowUse((), (0.1,))]
    report.kills += [_kill(7.8), _kill(8.4)]
    text = render_fleet(report)
    lines = text.splitlines()
    assert "fleet of 3 workers + 1 API process" in lines[0]
    assert "| 1 | 1.060 (318.0 s / 300.0 s) | 1.026 (310.0 s) | 0 | 120 / 120 |" in text
    assert "| 1.00 / 2.00 s |" in text  # idle p50 / max of the first repeat's freed slots
    assert "| 2 | 1.100 (330.0 s / 300.0 s) | 1.065 (310.0 s) | 2 | 120 / 120 | - |" in text
    assert "| 3 | 1.080 (324.0 s / 300.0 s) | 1.045 (310.0 s) | 0 | 120 / 120 | - |" in text
    assert "| median | 1.080 | 1.045 | 2 in all | | |" in text
    assert "| 1 | 40 / 40 | 3 | 1 | 0 | 7.8 s (lease 3 s) | 13.3 s |" in text
    assert "| 2 | 40 / 40 | 3 | 1 | 0 | 8.4 s (lease 3 s) | 13.3 s |" in text


def test_no_kill_runs_print_no_kill_table() -> None:
    report = FleetReport(workers=2, time_scale=0.1)
    report.runs.append(_run(310.0))
    assert "kill -9" not in render_fleet(report)
