"""``slidebatch generate`` re-run after an interruption pays only for the missing slides."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.cli_process import LOADED_MACHINE_BOUND, CliEnv, interrupt, wait_until

from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer

pytestmark = pytest.mark.slow

SLIDES = 16
WORKERS = 2


@pytest.fixture
def upstream() -> Iterator[FakeUpstreamServer]:
    # A second per image: 16 slides on 2 workers take 8 s, so the interrupt after 4 slides
    # (~2 s) leaves 6 s before the run could end on its own. At 0.25 s the whole deck took
    # 2 s, and a faster client (PNGs checked without inflating them) finished it before the
    # interrupt arrived on a loaded machine.
    config = FakeUpstreamConfig(rpm=10_000, latency_median=1.0, latency_p95=1.2)
    with FakeUpstreamServer(config) as server:
        yield server


@pytest.fixture
def cli(tmp_path: Path, upstream: FakeUpstreamServer) -> CliEnv:
    deck = [{"title": f"Slide {i}", "content_text": f"point {i}"} for i in range(1, SLIDES + 1)]
    (tmp_path / "deck.json").write_text(json.dumps({"slides": deck}), encoding="utf-8")
    return CliEnv(tmp_path, upstream.openrouter_base)


def _paid(upstream: FakeUpstreamServer) -> int:
    return int(upstream.stats()["totals"]["accepted"])


def _interrupted_run(cli: CliEnv, out: str, how: signal.Signals, after: int = 4) -> None:
    """Start generating into ``out`` and interrupt it once ``after`` slides are done."""
    before = cli.completed_events()
    process = cli.start("generate", "deck.json", "--out", out, "--workers", str(WORKERS))
    wait_until(lambda: cli.completed_events() - before >= after, LOADED_MACHINE_BOUND, process)
    interrupt(process, how)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_rerun_pays_only_for_the_missing_slides(
    cli: CliEnv, upstream: FakeUpstreamServer, how: signal.Signals
) -> None:
    """Interrupted at a few slides, the re-run pays exactly for the slides not done."""
    _interrupted_run(cli, "out", how)
    done = cli.slide_states().get("done", 0)
    assert 4 <= done < SLIDES
    paid_first = _paid(upstream)
    rerun = cli.run("generate", "deck.json", "--out", "out", "--workers", str(WORKERS))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "continuing batch" in rerun.stdout
    # A Ctrl-C can land after a paid image reached the disk but before its row was
    # committed: the re-run records it from the disk (slide_reconciled), it does not pay.
    reconciled = cli.events("slide_reconciled")
    assert _paid(upstream) - paid_first == SLIDES - done - reconciled
    # Only the attempts in flight when it stopped were paid twice.
    assert _paid(upstream) <= SLIDES + WORKERS
    manifest = json.loads((cli.root / "out" / "manifest.json").read_text("utf-8"))
    assert manifest["successful"] == SLIDES
    assert len(list((cli.root / "out").glob("*.png"))) == SLIDES
    assert cli.batch_states() == ["completed"]


def test_another_folder_starts_its_own_batch_and_leaves_the_first_alone(
    cli: CliEnv, upstream: FakeUpstreamServer
) -> None:
    """Same deck into another folder: a new batch paying for every slide, none for the old;
    the old folder's re-run then continues its own batch."""
    _interrupted_run(cli, "a", signal.SIGINT)
    done_a = cli.slide_states().get("done", 0)
    paid = _paid(upstream)
    other = cli.run("generate", "deck.json", "--out", "b", "--workers", str(WORKERS))
    assert other.returncode == 0, other.stdout + other.stderr
    assert "continuing" not in other.stdout
    assert _paid(upstream) - paid == SLIDES, "the first folder's batch ran in the background"
    assert cli.batch_states() == ["running", "completed"]
    paid = _paid(upstream)
    again = cli.run("generate", "deck.json", "--out", "a", "--workers", str(WORKERS))
    assert again.returncode == 0, again.stdout + again.stderr
    assert _paid(upstream) - paid == SLIDES - done_a
    assert cli.batch_states() == ["completed", "completed"]


def test_fresh_starts_over_and_the_old_batch_is_cancelled(
    cli: CliEnv, upstream: FakeUpstreamServer
) -> None:
    """--fresh pays for every slide again and the interrupted batch is cancelled, not run."""
    _interrupted_run(cli, "out", signal.SIGINT)
    paid = _paid(upstream)
    fresh = cli.run("generate", "deck.json", "--out", "out", "--fresh")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert _paid(upstream) - paid == SLIDES
    assert cli.batch_states() == ["cancelled", "completed"]


def test_a_changed_deck_starts_over_and_a_finished_run_costs_nothing(
    cli: CliEnv, upstream: FakeUpstreamServer
) -> None:
    """A finished deck re-run pays nothing; a different style is another deck (all paid)."""
    first = cli.run("generate", "deck.json", "--out", "out")
    assert first.returncode == 0, first.stdout + first.stderr
    assert _paid(upstream) == SLIDES
    same = cli.run("generate", "deck.json", "--out", "out")
    assert same.returncode == 0, same.stdout + same.stderr
    assert _paid(upstream) == SLIDES
    restyled = cli.run("generate", "deck.json", "--out", "out", "--style", "teal")
    assert restyled.returncode == 0, restyled.stdout + restyled.stderr
    assert _paid(upstream) == 2 * SLIDES
