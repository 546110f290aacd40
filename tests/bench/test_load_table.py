"""``bench --load``'s table: the server's CPU seconds and the load average beside each run."""

from __future__ import annotations

import os

from slidebatch.bench.environment import process_cpu_seconds
from slidebatch.bench.load import ApiFigures, LoadReport, LoadRow, render_table


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
