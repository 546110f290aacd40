"""Ctrl-C of ``slidebatch generate``: the first waits for the requests in flight (paid for,
so recorded with their cost) and writes what is done; the second abandons them and says so."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.cli.cli_process import LOADED_MACHINE_BOUND, CliEnv, wait_until

from slidebatch.testing.fake_behaviour import FakeUpstreamConfig, Fault
from slidebatch.testing.fake_upstream import FakeUpstreamServer

pytestmark = pytest.mark.slow

SLIDES = 12
PRICE = 0.134  # the fake's usage.cost per image


@pytest.fixture
def upstream() -> Iterator[FakeUpstreamServer]:
    # Requests long enough that one is surely in flight when Ctrl-C comes.
    config = FakeUpstreamConfig(rpm=10_000, latency_median=1.0, latency_p95=1.2)
    with FakeUpstreamServer(config) as server:
        yield server


@pytest.fixture
def cli(tmp_path: Path, upstream: FakeUpstreamServer) -> CliEnv:
    deck = [{"title": f"Slide {i}"} for i in range(1, SLIDES + 1)]
    (tmp_path / "deck.json").write_text(json.dumps({"slides": deck}), encoding="utf-8")
    return CliEnv(tmp_path, upstream.openrouter_base)


def _in_flight(upstream: FakeUpstreamServer) -> int:
    rows = upstream.stats()["requests"]
    return sum(1 for r in rows if r["start"] is not None and r["end"] is None)


def _totals(upstream: FakeUpstreamServer) -> dict[str, Any]:
    return dict(upstream.stats()["totals"])


def _spent(cli: CliEnv) -> float:
    with sqlite3.connect(cli.database) as db:
        return float(db.execute("SELECT coalesce(sum(spent), 0) FROM slides").fetchone()[0])


def _manifest(cli: CliEnv) -> dict[str, Any]:
    return dict(json.loads((cli.root / "out" / "manifest.json").read_text("utf-8")))


def test_first_ctrl_c_records_the_requests_in_flight_and_writes_what_is_done(
    cli: CliEnv, upstream: FakeUpstreamServer
) -> None:
    """Ctrl-C with requests in flight: they land and are counted (no paid image is lost),
    --out holds the done images and a manifest marking the rest missing, the hint is printed;
    the re-run pays exactly for the missing slides."""
    process = cli.start("generate", "deck.json", "--out", "out", "--workers", "2")
    wait_until(
        lambda: cli.completed_events() >= 2 and _in_flight(upstream) > 0,
        LOADED_MACHINE_BOUND,
        process,
    )
    process.send_signal(signal.SIGINT)
    assert process.wait(LOADED_MACHINE_BOUND) == 130, cli.output()
    output = " ".join(cli.output().split())  # rich wraps long lines
    assert "in-flight image" in output
    assert "Ctrl-C again to abandon" in output
    done = cli.slide_states()["done"]
    assert f"Interrupted: {done} of {SLIDES} slides done; re-run the same command" in output
    totals = _totals(upstream)
    assert "cancelled" not in totals["by_outcome"], "a paid request was abandoned"
    assert totals["accepted"] == done  # every image the upstream billed is recorded
    assert _spent(cli) == pytest.approx(done * PRICE)
    manifest = _manifest(cli)
    assert (manifest["successful"], manifest["missing"], manifest["failed"]) == (
        done,
        SLIDES - done,
        0,
    )
    assert manifest["cost"] == pytest.approx(done * PRICE)
    files = sorted(r["file"] for r in manifest["results"] if not r["missing"])
    assert files == sorted(p.name for p in (cli.root / "out").glob("*.png"))
    rerun = cli.run("generate", "deck.json", "--out", "out", "--workers", "2")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert _totals(upstream)["accepted"] == SLIDES
    assert _manifest(cli)["missing"] == 0


def test_second_ctrl_c_abandons_the_requests_in_flight_and_says_so(
    cli: CliEnv, upstream: FakeUpstreamServer
) -> None:
    """A request that hangs: the first Ctrl-C waits for it, the second abandons it; the run
    ends saying the cost may be undercounted by that image, with a manifest of 0 done."""
    upstream.force(Fault.HANG)
    process = cli.start("generate", "deck.json", "--out", "out", "--workers", "1")
    wait_until(lambda: _in_flight(upstream) > 0, LOADED_MACHINE_BOUND, process)
    process.send_signal(signal.SIGINT)
    wait_until(lambda: "Ctrl-C again" in cli.output(), LOADED_MACHINE_BOUND, process)
    process.send_signal(signal.SIGINT)
    assert process.wait(LOADED_MACHINE_BOUND) == 130, cli.output()
    output = " ".join(cli.output().split())  # rich wraps long lines
    assert "finishing 1 in-flight image, Ctrl-C again to abandon it" in output
    assert "may be undercounted by 1 image abandoned in flight" in output
    assert f"Interrupted: 0 of {SLIDES} slides done" in output
    manifest = _manifest(cli)
    assert manifest["missing"] == SLIDES
    assert manifest["uncounted_images"] == 1  # kept for whoever reads the folder later
    assert {r["status"] for r in manifest["results"]} == {"pending"}
