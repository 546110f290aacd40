"""The fleet bench's figures as the Markdown tables ``slidebatch bench --fleet N`` prints.

One row per repeat and a median row for the multi-batch scenario (unscaled upstream
seconds, as the bound), one row per repeat for the ``kill -9`` run (wall seconds); the
goals of issue 14 beside them. ``--json`` prints ``FleetReport.as_json()`` instead.
"""

from __future__ import annotations

import statistics

from slidebatch.bench.figures import RunFigures
from slidebatch.bench.fleet import FleetReport, KillFigures, WindowUse

RATIO_GOAL = 1.10  # makespan within 1.10 of the online bound, with 0 429s
KILL_GOAL_S = 30.0  # the killed worker's slides done within the lease + 30 s


def render_fleet(report: FleetReport) -> str:
    """Both tables, with a one-line heading each."""
    return "\n\n".join(part for part in (_multi_batch(report), _kills(report.kills)) if part)


def _multi_batch(report: FleetReport) -> str:
    head = (
        f"fleet of {report.workers} workers + 1 API process on PostgreSQL, time scale "
        f"{report.time_scale:g} (makespans in upstream seconds); goal: 0 429s and "
        f"makespan / online bound <= {RATIO_GOAL:.2f}\n\n"
        "| repeat | makespan / bound | makespan / online bound | 429s | paid / slides "
        "| freed slot idle p50 / max |\n|---|---|---|---|---|---|"
    )
    rows = [_run_row(i, run, use) for i, (run, use) in enumerate(_paired(report), start=1)]
    if report.runs:
        rows.append(
            f"| median | {statistics.median(r.ratio for r in report.runs):.3f} "
            f"| {statistics.median(r.ratio_in_order for r in report.runs):.3f} "
            f"| {sum(r.rate_limited for r in report.runs)} in all | | |"
        )
    return "\n".join([head, *rows])


def _paired(report: FleetReport) -> list[tuple[RunFigures, WindowUse | None]]:
    windows: list[WindowUse | None] = list(report.windows)
    windows += [None] * (len(report.runs) - len(windows))
    return list(zip(report.runs, windows, strict=False))


def _run_row(index: int, run: RunFigures, use: WindowUse | None) -> str:
    idle = "-"
    if use is not None and use.idle:
        figures = use.as_json()
        idle = f"{figures['slot_idle_p50_s']:.2f} / {figures['slot_idle_max_s']:.2f} s"
    return (
        f"| {index} | {run.ratio:.3f} ({run.makespan:.1f} s / {run.bound:.1f} s) "
        f"| {run.ratio_in_order:.3f} ({run.bound_in_order:.1f} s) | {run.rate_limited} "
        f"| {run.paid} / {run.slides} | {idle} |"
    )


def _kills(kills: list[KillFigures]) -> str:
    if not kills:
        return ""
    head = (
        "kill -9 of one worker mid-batch (wall seconds); goal: its slides done within the "
        f"lease + {KILL_GOAL_S:g} s, repeated requests <= the slides it held, none stored "
        "twice\n\n"
        "| repeat | done | held by the killed worker | repeated requests | stored twice "
        "| its slides done after the kill | batch final after the kill |\n"
        "|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {i} | {k.done} / {k.slides} | {k.held_by_killed} | {k.repeats} | {k.stored_twice} "
        f"| {k.killed_slides_done_s:.1f} s (lease {k.lease_s:g} s) | {k.recovery_s:.1f} s |"
        for i, k in enumerate(kills, start=1)
    ]
    return "\n".join([head, *rows])
