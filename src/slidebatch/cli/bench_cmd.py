"""``slidebatch bench``: the seed's performance test, measured against the physical bound."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from slidebatch.cli.output import EXIT_FAILED, err_console, fail

_TIME_SCALE_HELP = (
    "Wall seconds per upstream second (0.1: a 60 s window in 6 s, large enough "
    "that machine jitter stays well below the rate window's margin)."
)
_LOAD_HELP = (
    "Instead: the API under pollers and concurrent submits at a high limit, on SQLite and "
    "PostgreSQL (status latency, submits, the list, event-loop lag)."
)
_DB_HELP = "With --load: sqlite and/or postgres."
_FLEET_HELP = (
    "Instead: N workers + 1 API process on a fresh PostgreSQL database (127.0.0.1:5432): "
    "the multi-batch scenario vs the bound, 429s, and a kill -9 of one worker mid-batch."
)
_KILL_HELP = "With --fleet: also kill -9 one worker mid-batch (--no-kill: multi-batch only)."
_CROWD_HELP = (
    "Instead: 10 running batches watched by 300 status pollers and 100 SSE clients "
    "(--quick: 2 batches, 6 pollers, 4 streams); every request answered, p50 / p99."
)


def bench(
    time_scale: float = typer.Option(0.1, "--time-scale", help=_TIME_SCALE_HELP),
    quick: bool = typer.Option(False, "--quick", help="Fewer, smaller runs (a smoke test)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    naive: bool = typer.Option(True, "--naive/--no-naive", help="Also run the naive baseline."),
    fault_mix: bool = typer.Option(
        True, "--fault-mix/--no-fault-mix", help="Also run the fault-mix batch."
    ),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Keep data and logs here (default: a temporary folder)."
    ),
    learn_limit: bool = typer.Option(
        False,
        "--learn-limit",
        help="Leave UPSTREAM_RPM unset, against an upstream that counts refused requests "
        "and sends its X-RateLimit-* figures only with 429s: the gate learns the limit.",
    ),
    learn_window: bool = typer.Option(
        False,
        "--learn-window",
        help="As --learn-limit, and leave UPSTREAM_RATE_WINDOW_SECONDS unset too "
        "(nothing configured: the gate learns the window from the upstream's resets).",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 when any goal is missed (default: report only)."
    ),
    load: bool = typer.Option(False, "--load", help=_LOAD_HELP),
    database: list[str] = typer.Option(["sqlite", "postgres"], "--database", help=_DB_HELP),
    fleet: int = typer.Option(0, "--fleet", help=_FLEET_HELP, min=0, max=16),
    repeat: int = typer.Option(3, "--repeat", help="With --fleet: repeats (medians).", min=1),
    kill: bool = typer.Option(True, "--kill/--no-kill", help=_KILL_HELP),
    crowd: bool = typer.Option(False, "--crowd", help=_CROWD_HELP),
) -> None:
    """Run the fake upstream and a real server; print makespan vs bound, 429s and success."""
    if not 0 < time_scale <= 1:
        fail("--time-scale must be in (0, 1]")
    if fleet:
        _fleet(fleet, time_scale, repeat, quick=quick, kill=kill, workdir=workdir, as_json=as_json)
        return
    if load:
        _load(workdir, database, quick=quick)
        return
    if crowd:
        _crowd(workdir, quick=quick)
        return
    _single(
        time_scale,
        quick=quick,
        naive=naive,
        fault_mix=fault_mix,
        learn_limit=learn_limit,
        learn_window=learn_window,
        workdir=workdir,
        as_json=as_json,
        strict=strict,
    )


def _single(
    time_scale: float,
    *,
    quick: bool,
    naive: bool,
    fault_mix: bool,
    learn_limit: bool,
    learn_window: bool,
    workdir: Path | None,
    as_json: bool,
    strict: bool,
) -> None:
    """The default bench: one server against the fake upstream; print (or JSON) the report.

    Exits ``EXIT_FAILED`` under ``strict`` when a judged goal is missed.
    """
    # Imported here: the CLI starts fast and the bench's imports load only when it runs.
    from slidebatch.bench.report import render_text
    from slidebatch.bench.runner import BenchOptions, run_bench

    options = BenchOptions(
        time_scale=time_scale,
        quick=quick,
        naive=naive,
        fault_mix=fault_mix,
        learn_limit=learn_limit,
        learn_window=learn_window,
        root=workdir,
    )
    report = run_bench(options, progress=None if as_json else _progress)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        typer.echo(render_text(report))
    if strict and not all(goal.met or not goal.judged for goal in report.goals()):
        raise typer.Exit(EXIT_FAILED)


def _load(workdir: Path | None, databases: list[str], *, quick: bool) -> None:
    import tempfile

    from slidebatch.bench.load import render_table, run_load

    unknown = set(databases) - {"sqlite", "postgres"}
    if unknown:
        fail(f"--database must be sqlite or postgres, not {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="slidebatch-load-") as scratch:
        report = run_load(workdir or Path(scratch), databases=databases, quick=quick)
    typer.echo(render_table(report))


def _fleet(
    workers: int,
    time_scale: float,
    repeat: int,
    *,
    quick: bool,
    kill: bool,
    workdir: Path | None,
    as_json: bool,
) -> None:
    import tempfile

    from slidebatch.bench.fleet import run_fleet_bench
    from slidebatch.bench.fleet_table import render_fleet

    with tempfile.TemporaryDirectory(prefix="slidebatch-fleet-") as scratch:
        report = run_fleet_bench(
            workers=workers,
            time_scale=time_scale,
            repeat=repeat,
            kill=kill,
            quick=quick,
            root=workdir or Path(scratch),
            say=_progress,
        )
    typer.echo(json.dumps(report.as_json(), indent=2) if as_json else render_fleet(report))


def _crowd(workdir: Path | None, *, quick: bool) -> None:
    """Exit 1 unless every poll and every stream was answered."""
    import tempfile

    from slidebatch.bench.crowd import QUICK, CrowdShape, render_crowd, run_crowd

    shape = QUICK if quick else CrowdShape()
    with tempfile.TemporaryDirectory(prefix="slidebatch-crowd-") as scratch:
        tally = run_crowd(workdir or Path(scratch), shape)
    typer.echo(render_crowd(shape, tally))
    if tally.poll_failures or tally.stream_failures or tally.streams_finished < shape.streams:
        raise typer.Exit(EXIT_FAILED)


def _progress(message: str) -> None:
    err_console.print(f"[dim]{message}[/]", markup=True)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
