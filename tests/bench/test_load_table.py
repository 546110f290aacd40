"""``bench --load``'s table: the server's CPU seconds and the load average beside each run."""

from __future__ import annotations

import itertools
import os

from slidebatch.bench.environment import process_cpu_seconds
from slidebatch.bench.load import (
    POLLER_RATE,
    ApiFigures,
    LoadReport,
    LoadRow,
    first_polls,
    pollers,
    render_table,
)
from slidebatch.bench.slots import PhaseTotals, phase_totals, slot_account
from slidebatch.observability.metrics import Metrics


def test_process_cpu_seconds_reads_the_processes_own_clock() -> None:
    """The /proc figure is the one the process itself reports (user + system), to a tick."""
    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        assert process_cpu_seconds(os.getpid()) is None
        return
    before = os.times()
    read = process_cpu_seconds(os.getpid())
    after = os.times()
    assert read is not None
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert before.user + before.system - tick <= read <= after.user + after.system + tick


def test_process_cpu_seconds_of_no_process_is_none() -> None:
    """A pid that does not exist has no figure (the table shows '-')."""
    assert process_cpu_seconds(2**22 + 12345) is None


def test_table_shows_cpu_seconds_and_load_per_run() -> None:
    """Each run's row carries the server's CPU seconds and the load; the list its CPU per call."""
    rows = (
        LoadRow("1 x 200 slides", "SQLite", "none", 11.0, 10.0, (), 5.0, 12.34, 3.5),
        LoadRow("1 x 200 slides", "SQLite", "4 per second", 11.0, 10.0, (1.0, 2.0), None),
    )
    api = (ApiFigures("SQLite", (10.0, 20.0), (5.0, 7.0), 200, 0.05),)
    table = render_table(LoadReport(rows, api))
    assert "| 12.3 s | 3.50 |" in table
    assert "| - | - |" in table  # no figure: not a zero
    assert "| 25.0 ms |" in table  # 50 ms of CPU over two lists


def test_phase_totals_read_what_the_server_exposes() -> None:
    """The phases the server observes come back from its /metrics body, sums and counts."""
    metrics = Metrics()
    metrics.attempt_phase("starting", 0.25)
    metrics.attempt_phase("starting", 0.5)
    metrics.attempt_phase("upstream", 2.0)
    before = phase_totals("")
    totals = phase_totals(metrics.render()[0].decode()).minus(before)
    assert totals.seconds == {"starting": 0.75, "upstream": 2.0, "reporting": 0.0}
    assert totals.counts == {"starting": 2, "upstream": 1, "reporting": 0}


def test_slot_account_splits_the_gap_to_the_bound() -> None:
    """cap x makespan = the drawn work + the in-order schedule's idle + starting + fake +
    transit + idle: with blind, the parts add up to the gap, each in seconds of makespan."""
    phases = PhaseTotals(
        {"starting": 0.4, "upstream": 7.0, "reporting": 0.2},
        {"starting": 4, "upstream": 4, "reporting": 4},
    )
    # Four requests of 1.5 s drawn; the fake took 1.6 s each from arrival to answer.
    rows = [{"latency_drawn": 1.5, "arrival": i, "end": i + 1.6} for i in range(4)]
    account = slot_account(phases, rows, cap=2, makespan=4.0, bound=3.0, bound_in_order=3.2)
    assert account.work == 6.0
    assert round(account.fake, 9) == 0.4
    assert round(account.transit, 9) == 0.6
    assert account.starting == 0.4
    parts = account.starting + account.fake + account.transit + account.idle
    assert round(account.blind, 9) == 0.2
    gap = account.blind + account.seconds_of_makespan(parts)
    assert round(gap, 9) == account.makespan - account.bound
    assert round(account.per_attempt_ms(account.starting)) == 100


def test_table_shows_where_the_slots_time_went() -> None:
    """A run with its account gets a row in the second table, blind part first."""
    account = slot_account(
        PhaseTotals({"starting": 0.4, "upstream": 7.0}, {"upstream": 4}),
        [{"latency_drawn": 1.5, "arrival": 0.0, "end": 1.6}] * 4,
        cap=2,
        makespan=4.0,
        bound=3.0,
        bound_in_order=3.3,
    )
    row = LoadRow("1 x 4 slides", "SQLite", "none", 4.0, 3.0, (), None, slots=account)
    table = render_table(LoadReport((row,), ()))
    assert "| 1 x 4 slides | SQLite | 1.00 s | 0.30 s (1.10) | 0.20 s (100 ms) |" in table


def test_a_fast_poll_rate_on_one_batch_is_several_pollers() -> None:
    """40 polls a second on one 200-slide batch are ten pollers at 4 a second (as ten
    browser tabs), not one client asking every 25 ms; 30 batches at 40 keep one each."""
    assert pollers(["big"], 40) == ["big"] * 10
    assert pollers(["big"], 4) == ["big"]
    many = [f"b{n}" for n in range(30)]
    assert pollers(many, 40) == many
    assert all(40 / len(pollers(ids, 40)) <= POLLER_RATE for ids in (["big"], many))


def test_the_table_has_a_200_slide_batch_polled_40_times_a_second() -> None:
    """The row the issue's goal is about: its p99 over all its polls, and how many."""
    polls = tuple(float(n) for n in range(1, 151))
    row = LoadRow("1 x 200 slides", "SQLite", "40 per second", 4.0, 3.5, polls, 10.0)
    table = render_table(LoadReport((row,), ()))
    assert "| 1 x 200 slides | SQLite | 40 per second |" in table
    assert "75.5 / 148.0 ms (150 polls)" in table  # p99 of 150 polls: the 148th, not the slowest


def test_pollers_first_ask_spread_over_one_period() -> None:
    """30 pollers at 4/3 a second each start 25 ms apart, not all at once; ten on one batch
    at 4 a second start 25 ms apart too (as before)."""
    thirty = first_polls(30, 40 / 30)
    assert thirty[0] == 0.0
    assert max(thirty) < 0.75
    assert all(abs(b - a - 0.025) < 1e-9 for a, b in itertools.pairwise(thirty))
    ten = first_polls(10, 4.0)
    assert all(abs(b - a - 0.025) < 1e-9 for a, b in itertools.pairwise(ten))
