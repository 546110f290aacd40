"""``slidebatch generate`` in-process (``run_batch``) with a provider the test releases image
by image and a clock that moves only when told: what the bar and the lines say when Ctrl-C
comes, on a re-run, and about money."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from rich.console import Console
from rich.progress import Progress

from slidebatch.cli import batch_run
from slidebatch.cli.interrupts import Interrupts
from slidebatch.cli.output import EXIT_INTERRUPTED, EXIT_OK
from slidebatch.config import Settings, load_settings
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.errors import LimitExceeded
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.services import Services, build_services
from slidebatch.storage.images import ImageStore
from slidebatch.testing.clock import FakeClock

PRICE = 0.05


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 36), (20, 90, 120)).save(out, "PNG")
    return out.getvalue()


class HeldProvider:
    """Each call waits until the test releases it; ``cost`` is what it reports per image."""

    name = "held"
    credential_id = "held-test"

    def __init__(self, cost: float | None = PRICE, *, hold: bool = True) -> None:
        self.cost = cost
        self.hold = hold
        self.calls: list[asyncio.Event] = []

    async def generate(self, request: ImageRequest) -> ImageResult:
        go = asyncio.Event()
        self.calls.append(go)
        if self.hold:
            await go.wait()
        return ImageResult(_png(), "image/png", 64, 36, latency_s=0.0, cost=self.cost)


class Run:
    """One ``run_batch`` of a deck into ``root/out`` with its own bar and console."""

    def __init__(
        self,
        root: Path,
        provider: HeldProvider,
        slides: int,
        workers: int,
        *,
        unit_price: float | None = None,
        max_cost: float | None = None,
    ) -> None:
        self.root = root
        self.provider = provider
        self.unit_price = unit_price  # the measured price the run sees (None: the stored mean)
        self.max_cost = max_cost
        self.deck = BatchRequest(
            tuple(Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}") for i in range(1, slides + 1)),
            "navy",
        )
        self.settings = load_settings(
            data_dir=root / "data",
            log_dir=root / "logs",
            image_provider="local",
            batch_default_workers=workers,
            upstream_price_per_image=PRICE,
            upstream_probe_seconds=0.0,  # no spacing of starts on a clock nobody moves
        )
        self.stop = Interrupts()
        self.screen = io.StringIO()
        self.progress: Progress | None = None

    def services(self) -> Callable[[Settings], AbstractAsyncContextManager[Services]]:
        @asynccontextmanager
        async def open_services(settings: Settings) -> AsyncIterator[Services]:
            # A clock nobody advances: the bar moves only by the batch's own events.
            clock = FakeClock(autojump=False)
            async with build_services(
                settings, provider=self.provider, clock=clock, adopt_stored=False
            ) as services:
                if self.unit_price is not None:
                    _measured_at(services, self.unit_price)
                yield services

        return open_services

    async def start(
        self, monkeypatch: pytest.MonkeyPatch, formats: list[str] | None = None
    ) -> asyncio.Task[int]:
        console = Console(file=self.screen, width=400, highlight=False)
        monkeypatch.setattr(batch_run, "console", console)

        def progress(c: Console) -> Progress:
            self.progress = Progress(console=c)
            return self.progress

        monkeypatch.setattr(batch_run, "make_progress", progress)
        return asyncio.create_task(
            batch_run.run_batch(
                self.settings,
                self.deck,
                self.root / "out",
                formats or [],
                max_cost=self.max_cost,
                interrupts=self.stop,
                services=self.services(),
            )
        )

    def bar(self) -> dict[str, Any]:
        assert self.progress is not None
        task = self.progress.tasks[0]
        return {"completed": task.completed, **task.fields}

    def output(self) -> str:
        return " ".join(self.screen.getvalue().split())

    def manifest(self) -> dict[str, Any]:
        return dict(json.loads((self.root / "out" / "manifest.json").read_text("utf-8")))


def _measured_at(services: Services, price: float) -> None:
    """The mean of the recent images' usage.cost reads ``price`` (the model's price moved
    since the batch's images were paid)."""

    async def mean() -> float:
        return price

    services.mean_cost.value = mean  # type: ignore[method-assign]
    services.mean_cost.fresh = mean  # type: ignore[method-assign]


async def _until(condition: Callable[[], bool], run: asyncio.Task[int] | None = None) -> None:
    """Yield to the loop until ``condition`` holds (the engine's threads need real turns)."""
    for _ in range(5000):  # a bound only a hung run reaches
        if condition():
            return
        if run is not None and run.done():
            raise AssertionError(f"the run ended first: {run.result()}")
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_the_bar_keeps_moving_while_the_images_in_flight_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first Ctrl-C the bar counts the images that land and says how many are left
    in flight (singular: "it"), without the whole deck's ETA; the run says that the asked
    --pptx/--pdf were not written."""
    provider = HeldProvider()
    run = Run(tmp_path, provider, slides=6, workers=2)
    task = await run.start(monkeypatch, formats=["pptx", "pdf"])
    await _until(lambda: len(provider.calls) == 2, task)
    run.stop.press()
    await _until(lambda: run.bar()["detail"] == "finishing 2 in-flight images", task)
    assert run.bar()["eta"] == "-"
    provider.calls[0].set()
    await _until(lambda: run.bar()["completed"] == 1, task)
    assert run.bar()["detail"] == "finishing 1 in-flight image"
    assert run.bar()["eta"] == "-"
    provider.calls[1].set()
    assert await task == EXIT_INTERRUPTED
    assert len(provider.calls) == 2  # nothing new started after the Ctrl-C
    output = run.output()
    assert "finishing 2 in-flight images, Ctrl-C again to abandon them" in output
    assert "no .pptx/.pdf written: the run was interrupted" in output
    assert "Interrupted: 2 of 6 slides done" in output
    assert not list((tmp_path / "out").glob("*.pptx"))


async def test_ctrl_c_while_the_database_opens_starts_nothing_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C that comes before the batch is submitted: no request, no --out folder."""
    provider = HeldProvider()
    run = Run(tmp_path, provider, slides=3, workers=1)
    run.stop.press()
    task = await run.start(monkeypatch)
    assert await task == EXIT_INTERRUPTED
    assert provider.calls == []
    assert not (tmp_path / "out").exists()
    assert "before any slide was started: nothing paid, nothing written." in run.output()


async def test_a_second_ctrl_c_is_kept_and_an_image_found_on_disk_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image abandoned by a second Ctrl-C stays counted in the manifest across runs;
    when the re-run finds it on disk (stored, never recorded) it says so, records it at the
    estimated price, and the total says it holds an estimate."""
    first = Run(tmp_path, HeldProvider(), slides=3, workers=1)
    task = await first.start(monkeypatch)
    await _until(lambda: len(first.provider.calls) == 1, task)
    first.stop.press()
    await _until(lambda: "Ctrl-C again" in first.output(), task)
    first.stop.press()
    assert await task == EXIT_INTERRUPTED
    assert first.manifest()["uncounted_images"] == 1
    # Its answer had reached the disk when the process ended, not the database.
    with sqlite3.connect(tmp_path / "data" / "slidebatch.db") as db:
        batch_id, key, page = db.execute(
            "SELECT batch_id, key, page_num FROM slides WHERE state = 'generating'"
        ).fetchone()
    ImageStore(first.settings.images_dir).write(batch_id, key, page, _png())

    again = Run(tmp_path, HeldProvider(hold=False), slides=3, workers=1)
    assert await (await again.start(monkeypatch)) == EXIT_OK
    output = again.output()
    assert "recorded 1 image an interrupted run left on disk" in output
    assert "(1 at the model's price (estimated)): not paid again" in output
    assert len(again.provider.calls) == 2
    manifest = again.manifest()
    assert manifest["uncounted_images"] == 0  # the abandoned image was the one found
    assert manifest["cost_estimated"] is True
    assert manifest["cost"] == pytest.approx(3 * PRICE)
    assert f"spent ${3 * PRICE:.4g} (${PRICE:.4g} of it estimated)" in output


async def test_a_resumed_run_estimates_only_the_missing_slides_and_names_both_spends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted at 1 of 4 slides: the re-run's estimate counts the 3 it draws and says
    what the batch paid before; the bar and the summary show the batch's spend, and the
    summary names this run's part."""
    first = Run(tmp_path, HeldProvider(), slides=4, workers=1)
    task = await first.start(monkeypatch)
    await _until(lambda: len(first.provider.calls) == 1, task)
    first.provider.calls[0].set()
    await _until(lambda: first.bar()["completed"] == 1, task)
    first.stop.press()
    first.provider.calls[-1].set()
    assert await task == EXIT_INTERRUPTED
    done = first.manifest()["successful"]
    missing = 4 - done

    again = Run(tmp_path, HeldProvider(hold=False), slides=4, workers=1)
    assert await (await again.start(monkeypatch)) == EXIT_OK
    output = again.output()
    assert f"cost estimate: ${missing * PRICE:.4g} ({missing} of 4 slides not done x" in output
    assert f"the batch spent ${done * PRICE:.4g} before this run" in output
    assert f"spent ${4 * PRICE:.4g} (this run ${missing * PRICE:.4g})" in output
    # Time too: this run's on the clock it was given (which nobody moved), and the batch's.
    assert "4/4 slides in 0.0s this run (" in output
    assert "s since the batch started)" in output
    assert again.bar()["cost"] == f"spent ${4 * PRICE:.4g}"


async def _interrupted_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slides: int, done: int, cost: float
) -> None:
    """A first run of ``slides`` slides paid ``cost`` per image, stopped by Ctrl-C with
    ``done`` slides drawn."""
    first = Run(tmp_path, HeldProvider(cost), slides=slides, workers=1)
    task = await first.start(monkeypatch)
    for n in range(done):
        await _until(lambda n=n: len(first.provider.calls) == n + 1, task)  # type: ignore[misc]
        if n == done - 1:
            first.stop.press()
        first.provider.calls[n].set()
    assert await task == EXIT_INTERRUPTED
    assert first.manifest()["successful"] == done


async def test_max_cost_on_a_resumed_run_counts_what_the_batch_paid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 of 7 slides paid $0.10 each ($0.40), 3 left at $0.05: --max-cost 0.5 is refused
    before any request, naming the cap and the figures ($0.55 in all); the whole deck at
    $0.05 ($0.35) is what it compared before, and let the run start."""
    await _interrupted_after(tmp_path, monkeypatch, slides=7, done=4, cost=0.10)
    again = Run(
        tmp_path, HeldProvider(PRICE, hold=False), slides=7, workers=1,
        unit_price=PRICE, max_cost=0.5,
    )  # fmt: skip
    with pytest.raises(LimitExceeded) as refused:
        await (await again.start(monkeypatch))
    assert str(refused.value) == (
        "the batch paid $0.4 already and its 3 slides not done are estimated at $0.15 "
        "(3 x $0.05, measured): $0.55 in all, above --max-cost $0.5; raise --max-cost to "
        "finish the deck"
    )
    assert again.provider.calls == []


async def test_max_cost_on_a_resumed_run_that_fits_runs_to_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 of 11 slides paid $0.02 each ($0.16), 3 left at $0.05: $0.31 fits --max-cost 0.5
    and the run draws the 3 (the whole deck at $0.05, $0.55, was refused before)."""
    await _interrupted_after(tmp_path, monkeypatch, slides=11, done=8, cost=0.02)
    again = Run(
        tmp_path, HeldProvider(PRICE, hold=False), slides=11, workers=1,
        unit_price=PRICE, max_cost=0.5,
    )  # fmt: skip
    assert await (await again.start(monkeypatch)) == EXIT_OK
    assert len(again.provider.calls) == 3
    manifest = again.manifest()
    assert manifest["successful"] == 11
    assert manifest["cost"] == pytest.approx(8 * 0.02 + 3 * PRICE)
