"""One batch run in-process for ``slidebatch generate``: progress on screen, a folder out.

The progress bar is up before the database opens, so a large deck shows what is happening
from the first second; images are hard-linked from the store into the output folder (one
copy on disk, a copy only across file systems).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from slidebatch.atomic_file import atomic_write
from slidebatch.cli import summary
from slidebatch.cli.interrupts import Interrupts
from slidebatch.cli.output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_QUOTA,
    NOT_STARTED,
)
from slidebatch.cli.progress_bar import Bar, finishing_text, make_progress
from slidebatch.cli.resume import Plan, Start, Started, plan, start_or_resume
from slidebatch.config import Settings
from slidebatch.core.batch import BatchRecord
from slidebatch.core.cost import check_max_cost
from slidebatch.core.slide import BatchRequest
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import QuotaWait, SlideEvent
from slidebatch.exporters.base import ExportDeck
from slidebatch.exporters.filename import deck_export_name, slide_file_name
from slidebatch.exporters.files import write_export
from slidebatch.exporters.manifest import MANIFEST_NAME, manifest_dict
from slidebatch.exporters.sources import deck_from_records
from slidebatch.services import Services, build_services
from slidebatch.storage.reconcile import Reconciled

console = Console(highlight=False)
# After a spent quota, attempts in flight may land (they are paid for) for this long.
SETTLE_SECONDS = 60.0

ServicesFactory = Callable[[Settings], AbstractAsyncContextManager[Services]]


def _own_services(settings: Settings) -> AbstractAsyncContextManager[Services]:
    return build_services(settings, adopt_stored=False)


async def run_batch(
    settings: Settings,
    request: BatchRequest,
    out_dir: Path,
    formats: list[str],
    *,
    fresh: bool = False,
    max_cost: float | None = None,
    interrupts: Interrupts | None = None,
    services: ServicesFactory = _own_services,
) -> int:
    """Generate ``request``, write ``out_dir``; the exit code (0: every slide done).

    Continues the batch an earlier run of the same deck left in ``out_dir`` unless ``fresh``
    (``cli/resume.py``); other unfinished batches in the database are left alone. Ctrl-C
    (``interrupts``) ends the run with what is done written out (``cli/interrupts.py``).
    ``services``: what opens the services (tests give a provider and a clock).
    """
    total = len(request.slides)
    console.print(
        f"{total} slides with provider {settings.provider} (state in {settings.data_dir})"
    )
    with make_progress(console) as progress, interrupts or Interrupts() as stop:
        bar = Bar(progress, total)
        async with services(settings) as live:
            bar.use_clock(live.clock.now)
            _say_reconciled(bar, live.reconciled)
            if stop.first.is_set():  # Ctrl-C while the database opened: start nothing
                bar.say(f"[yellow]{NOT_STARTED}[/]")
                return EXIT_INTERRUPTED
            began = live.clock.now()
            plan, batch = await _submitted(live, request, out_dir, bar, fresh, max_cost)
            recovered = sum(1 for item in live.reconciled if item.slide.batch_id == batch.id)
            watching = asyncio.ensure_future(_until_end(live, batch.id, bar))
            if not await _ended_before(watching, stop.first):
                abandoned = await _interrupt(live, stop, bar, watching)
                record, deck, manifest = await _written(
                    live, batch.id, out_dir, abandoned, recovered
                )
                interrupted = True
            elif (quota := watching.result()) is not None:
                # Waiting hours in a terminal helps no one: stop, say when; a re-run resumes.
                # The slides already paid for are written now, not only after the re-run.
                await _written(live, batch.id, out_dir, 0, recovered)
                summary.quota_stop(console, quota)
                summary.no_exports(console, formats, "the upstream's quota is spent")
                return EXIT_QUOTA
            else:
                record, deck, manifest = await _written(live, batch.id, out_dir, 0, recovered)
                interrupted = False
            took = None if plan.continued is None else live.clock.now() - began
    if interrupted:
        summary.interrupted(console, manifest, out_dir, formats, plan.spent)
        return EXIT_INTERRUPTED
    await _exported(deck, out_dir, formats)
    summary.summary(console, manifest, out_dir, record.state, plan.spent, took)
    return EXIT_OK if record.state is BatchState.COMPLETED else EXIT_FAILED


def _say_reconciled(bar: Bar, found: tuple[Reconciled, ...]) -> None:
    """Images an interrupted run had paid for and stored but not recorded, now recorded."""
    if not found:
        return
    plural = "" if len(found) == 1 else "s"
    guessed = sum(1 for item in found if item.estimated)
    unknown = sum(1 for item in found if item.cost is None)
    how = []
    if guessed:
        how.append(f"{guessed} at the model's price (estimated)")
    if unknown:
        how.append(f"{unknown} at an unknown cost")
    bar.say(
        f"recorded {len(found)} image{plural} an interrupted run left on disk"
        + (f" ({', '.join(how)})" if how else "")
        + ": not paid again"
    )


async def _submitted(
    services: Services,
    request: BatchRequest,
    out_dir: Path,
    bar: Bar,
    fresh: bool,
    max_cost: float | None,
) -> tuple[Plan, BatchRecord]:
    """The batch this run works on, submitted or continued, with its cost guard on."""
    total = len(request.slides)
    unit = await services.unit_cost()
    planned = await plan(services, request, out_dir, fresh=fresh)
    if max_cost is not None:
        # A continued batch: what it paid plus the slides it still draws, not the whole deck
        # at today's price (its images may have cost more or less than that).
        check_max_cost(max_cost, planned.to_draw, unit, spent=planned.spent, name="--max-cost")
    bar.say(summary.estimate_line(planned, total, unit, max_cost))
    bar.note(f"submitting {total} slides", description="slides")
    request = replace(request, max_cost=max_cost)
    started = await start_or_resume(services, request, out_dir, fresh=fresh)
    batch = started.batch
    if batch.max_cost is not None:  # given now, or kept from the run it continues
        services.guard_cost(batch.id, batch.max_cost, unit)
    _say_start(bar, started)
    return planned, batch


async def _until_end(services: Services, batch_id: str, bar: Bar) -> QuotaWait | None:
    """Show progress until the batch is final; the quota wait if the quota ran out first."""
    quota = await _watch(services, batch_id, bar)
    if quota is None:
        await services.engine.wait(batch_id)
    return quota


async def _ended_before(work: asyncio.Future[Any], pressed: asyncio.Event) -> bool:
    """Whether ``work`` ended before the first Ctrl-C (if not, it goes on)."""
    press: asyncio.Future[Any] = asyncio.ensure_future(pressed.wait())
    try:
        await asyncio.wait({work, press}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        press.cancel()
    return work.done()


async def _interrupt(
    services: Services, stop: Interrupts, bar: Bar, watching: asyncio.Future[Any]
) -> int:
    """After the first Ctrl-C: the requests in flight land while the bar goes on showing
    them; how many were abandoned in flight by a second Ctrl-C."""
    try:
        return await _finish_in_flight(services, stop, bar)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)


async def _finish_in_flight(services: Services, stop: Interrupts, bar: Bar) -> int:
    """No new request; wait for those in flight (paid for: recorded with their cost) unless
    Ctrl-C comes again. How many were abandoned in flight (0: every paid image counted)."""
    engine = services.engine
    in_flight = engine.hold()
    if not in_flight:
        return 0
    bar.finishing = True
    bar.refresh()
    bar.say(f"[yellow]{finishing_text(in_flight)}[/]")
    settled: asyncio.Future[object] = asyncio.ensure_future(engine.settle())
    again: asyncio.Future[object] = asyncio.ensure_future(stop.second.wait())
    try:
        await asyncio.wait({settled, again}, return_when=asyncio.FIRST_COMPLETED)
        return 0 if settled.done() else engine.in_flight()
    finally:
        settled.cancel()
        again.cancel()


async def _written(
    services: Services, batch_id: str, out_dir: Path, abandoned: int, recovered: int
) -> tuple[BatchRecord, ExportDeck, dict[str, Any]]:
    """Write the batch's images and manifest as they stand into ``out_dir``.

    ``abandoned`` (images abandoned in flight by a second Ctrl-C) are logged and kept in the
    manifest; ``recovered``: this batch's images found on disk at the start (``write_output``).
    """
    if abandoned:
        services.log.event(
            "batch_interrupted", batch_id=batch_id, details={"abandoned_in_flight": abandoned}
        )
    record, deck = await _deck_so_far(services, batch_id, services.settings)
    manifest = await asyncio.to_thread(
        write_output, deck, out_dir, abandoned=abandoned, recovered=recovered
    )
    return record, deck, manifest


async def _exported(deck: ExportDeck, out_dir: Path, formats: list[str]) -> None:
    """Write the --pptx/--pdf/--zip files of a batch that ended."""
    folder_name = await asyncio.to_thread(lambda: out_dir.resolve().name)
    for fmt in formats:
        name = deck_export_name(deck.title, folder_name, fmt)
        path = await asyncio.to_thread(write_export, deck, fmt, out_dir / name)
        console.print(f"wrote {path}")


def _say_start(bar: Bar, started: Started) -> None:
    for batch_id in started.superseded:
        bar.say(f"cancelled unfinished batch {batch_id} of another deck here")
    if started.how is not Start.NEW:
        bar.say(f"continuing batch {started.batch.id} ({started.how}); --fresh starts over")


async def _watch(services: Services, batch_id: str, bar: Bar) -> QuotaWait | None:
    """Show progress until the batch ends; the quota wait if the upstream's quota ran out."""
    async with services.engine.events.subscribe(batch_id) as stream:
        status = await services.engine.read.status(batch_id)
        bar.slides(status.results or ())
        bar.show(status.progress)
        if status.status.is_final:
            return None
        if status.progress.waiting_for_quota is not None:
            return status.progress.waiting_for_quota
        # While the batch waits on the gate no slide changes: refresh the wait once a second.
        ticker = asyncio.create_task(_tick(services, batch_id, bar))
        try:
            async for event in stream:
                data = event.data
                bar.show(data.progress, data.slide if isinstance(data, SlideEvent) else None)
                if data.progress is not None and data.progress.waiting_for_quota is not None:
                    await _settle(services, batch_id, stream)
                    return data.progress.waiting_for_quota
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
    return None


async def _settle(services: Services, batch_id: str, stream: AsyncIterator[object]) -> None:
    """Let the attempts already in flight land (they are paid for), for up to a minute of
    the services' clock."""

    async def landed() -> None:
        with contextlib.suppress(StopAsyncIteration):
            while True:
                status = await services.engine.read.status(batch_id)
                states = [slide.state for slide in status.results or ()]
                if SlideState.GENERATING not in states:
                    return
                await anext(stream)

    landing = asyncio.ensure_future(landed())
    timer = asyncio.ensure_future(services.clock.sleep(SETTLE_SECONDS))
    try:
        await asyncio.wait({landing, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (landing, timer):
            task.cancel()
        await asyncio.gather(landing, timer, return_exceptions=True)
    if landing.done() and not landing.cancelled():
        landing.result()  # a failure reading the status is the caller's, as before


async def _tick(services: Services, batch_id: str, bar: Bar) -> None:
    while True:
        await services.clock.sleep(1.0)
        if bar.finishing:
            bar.refresh()
            continue
        status = await services.engine.read.status(batch_id)
        if status.progress.waiting:
            bar.show(status.progress)


async def _deck_so_far(
    services: Services, batch_id: str, settings: Settings
) -> tuple[BatchRecord, ExportDeck]:
    """The batch's record and its deck as stored now (slides not done yet have no file)."""
    record, slides = await services.engine.read.records(batch_id)
    deck = deck_from_records(record, slides, services.images.batch_dir(batch_id))
    deck = replace(deck, provider=services.provider.name, max_pixels=settings.image_max_pixels)
    return record, deck


def write_output(
    deck: ExportDeck, out_dir: Path, *, abandoned: int = 0, recovered: int = 0
) -> dict[str, Any]:
    """Slide images as ``NN-<slug>.<png|jpg|webp>`` plus ``manifest.json``; the manifest.

    ``abandoned``: requests this run abandoned in flight; the manifest's
    ``uncounted_images`` adds them to those an earlier manifest of the batch recorded, less
    the ``recovered`` ones (found on disk at this run's start: now recorded and counted).
    """
    before = max(0, _uncounted_before(deck.batch_id, out_dir) - recovered)
    uncounted = abandoned + before
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[int, str | None] = {}
    for index, slide in enumerate(deck.slides):
        if slide.image_path is None or not slide.image_path.is_file():
            files[index] = None
            continue
        # Named by the image's real type, like the store, the ZIP and the image URLs.
        suffix = slide.image_path.suffix
        name = slide_file_name(index + 1, len(deck.slides), slide.title, suffix)
        _link_or_copy(slide.image_path, out_dir / name)
        files[index] = name
    manifest = manifest_dict(deck, files, uncounted=uncounted)
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    with atomic_write(out_dir / MANIFEST_NAME) as handle:
        handle.write(text.encode("utf-8"))
    return manifest


def _uncounted_before(batch_id: str, out_dir: Path) -> int:
    """The images abandoned in flight that the folder's manifest of this batch recorded."""
    try:
        earlier = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if not isinstance(earlier, dict) or earlier.get("batch_id") != batch_id:
        return 0
    count = earlier.get("uncounted_images")
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes ``source``'s bytes: a hard link where possible, else a copy."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
