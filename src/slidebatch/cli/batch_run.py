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
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from slidebatch.atomic_file import atomic_write
from slidebatch.cli.interrupts import Interrupts
from slidebatch.cli.output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_QUOTA
from slidebatch.cli.resume import Start, Started, start_or_resume
from slidebatch.config import Settings
from slidebatch.core.batch import BatchRecord
from slidebatch.core.cost import CostSource, UnitCost
from slidebatch.core.slide import BatchRequest
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import Progress as SlideProgress
from slidebatch.engine.answers import QuotaWait, SlideAnswer, SlideEvent
from slidebatch.exporters.base import ExportDeck
from slidebatch.exporters.filename import deck_export_name, slide_file_name
from slidebatch.exporters.files import write_export
from slidebatch.exporters.manifest import MANIFEST_NAME, manifest_dict
from slidebatch.exporters.sources import deck_from_records
from slidebatch.services import Services, build_services

console = Console(highlight=False)
# After a spent quota, attempts in flight may land (they are paid for) for this long.
SETTLE_SECONDS = 60.0


async def run_batch(
    settings: Settings,
    request: BatchRequest,
    out_dir: Path,
    formats: list[str],
    *,
    fresh: bool = False,
    max_cost: float | None = None,
    interrupts: Interrupts | None = None,
) -> int:
    """Generate ``request``, write ``out_dir``; the exit code (0: every slide done).

    Continues the batch an earlier run of the same deck left in ``out_dir`` unless ``fresh``
    (``cli/resume.py``); other unfinished batches in the database are left alone. Ctrl-C
    (``interrupts``) ends the run with what is done written out (``cli/interrupts.py``).
    """
    total = len(request.slides)
    console.print(
        f"{total} slides with provider {settings.provider} (state in {settings.data_dir})"
    )
    interrupted: tuple[dict[str, Any], int] | None = None  # the manifest, abandoned requests
    with _progress() as progress, interrupts or Interrupts() as stop:
        task = progress.add_task(
            "starting", total=total, detail="opening the database", eta="-", cost=""
        )
        async with build_services(settings, adopt_stored=False) as services:
            batch = await _submitted(services, request, out_dir, progress, task, fresh, max_cost)
            watching = asyncio.ensure_future(_until_end(services, batch.id, progress, task))
            if not await _ended_before(watching, stop.first):
                abandoned = await _finish_in_flight(services, stop, progress)
                _, deck = await _deck_so_far(services, batch.id, settings)
                manifest = await asyncio.to_thread(write_output, deck, out_dir)
                interrupted = (manifest, abandoned)
            elif (quota := watching.result()) is not None:
                # Waiting hours in a terminal helps no one: stop, say when; a re-run resumes.
                # The slides already paid for are written now, not only after the re-run.
                _, deck = await _deck_so_far(services, batch.id, settings)
                await asyncio.to_thread(write_output, deck, out_dir)
                _quota_stop(quota)
                return EXIT_QUOTA
            else:
                record, deck = await _deck_so_far(services, batch.id, settings)
    if interrupted is not None:
        _interrupted(*interrupted, out_dir)
        return EXIT_INTERRUPTED
    return await _finished(record, deck, out_dir, formats)


async def _submitted(
    services: Services,
    request: BatchRequest,
    out_dir: Path,
    progress: Progress,
    task: TaskID,
    fresh: bool,
    max_cost: float | None,
) -> BatchRecord:
    """The batch this run works on, submitted or continued, with its cost guard on."""
    total = len(request.slides)
    unit = await services.unit_cost()
    if max_cost is not None:
        services.check_max_cost_with(max_cost, total, unit)
    progress.console.print(_estimate_line(total, unit))
    progress.update(task, description="slides", detail=f"submitting {total} slides")
    request = replace(request, max_cost=max_cost)
    started = await start_or_resume(services, request, out_dir, fresh=fresh)
    batch = started.batch
    if batch.max_cost is not None:  # given now, or kept from the run it continues
        services.guard_cost(batch.id, batch.max_cost, unit)
    _say_start(progress, started)
    return batch


async def _until_end(
    services: Services, batch_id: str, progress: Progress, task: TaskID
) -> QuotaWait | None:
    """Show progress until the batch is final; the quota wait if the quota ran out first."""
    quota = await _watch(services, batch_id, progress, task)
    if quota is None:
        await services.engine.wait(batch_id)
    return quota


async def _ended_before(work: asyncio.Future[Any], pressed: asyncio.Event) -> bool:
    """Whether ``work`` ended before the first Ctrl-C; if not, it is cancelled."""
    press: asyncio.Future[Any] = asyncio.ensure_future(pressed.wait())
    try:
        await asyncio.wait({work, press}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        press.cancel()
    if work.done():
        return True
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    return False


async def _finish_in_flight(services: Services, stop: Interrupts, progress: Progress) -> int:
    """No new request; wait for those in flight (paid for: recorded with their cost) unless
    Ctrl-C comes again. How many were abandoned in flight (0: every paid image counted)."""
    engine = services.engine
    in_flight = engine.hold()
    if not in_flight:
        return 0
    plural = "" if in_flight == 1 else "s"
    progress.console.print(
        f"[yellow]finishing {in_flight} request{plural} in flight, Ctrl-C again to abandon them[/]"
    )
    settled: asyncio.Future[object] = asyncio.ensure_future(engine.settle())
    again: asyncio.Future[object] = asyncio.ensure_future(stop.second.wait())
    try:
        await asyncio.wait({settled, again}, return_when=asyncio.FIRST_COMPLETED)
        return 0 if settled.done() else engine.in_flight()
    finally:
        settled.cancel()
        again.cancel()


def _interrupted(manifest: dict[str, Any], abandoned: int, out_dir: Path) -> None:
    done, total = manifest["successful"], manifest["total_slides"]
    cost = manifest.get("cost")
    paid = "unknown" if cost is None else f"${cost:.4g}"
    if abandoned:
        plural = "" if abandoned == 1 else "s"
        paid += (
            f" (may be undercounted by {abandoned} image{plural} abandoned in flight: "
            "the upstream may bill them)"
        )
    console.print(f"cost so far: {paid}; wrote {out_dir / MANIFEST_NAME}")
    console.print(
        f"[yellow]Interrupted: {done} of {total} slides done; re-run the same command to "
        "resume (only missing slides are paid)[/]"
    )


async def _finished(
    record: BatchRecord, deck: ExportDeck, out_dir: Path, formats: list[str]
) -> int:
    """Write the folder and the exports of a batch that ended; the exit code."""
    manifest = await asyncio.to_thread(write_output, deck, out_dir)
    folder_name = await asyncio.to_thread(lambda: out_dir.resolve().name)
    for fmt in formats:
        name = deck_export_name(deck.title, folder_name, fmt)
        path = await asyncio.to_thread(write_export, deck, fmt, out_dir / name)
        console.print(f"wrote {path}")
    _summary(manifest, out_dir, record.state)
    return EXIT_OK if record.state is BatchState.COMPLETED else EXIT_FAILED


def _estimate_line(total: int, unit: UnitCost) -> str:
    estimate = unit.estimate(total)
    if unit.source is CostSource.FREE:
        return "cost: free (offline renderer)"
    if estimate is None:
        return "cost: unknown (no price yet; set UPSTREAM_PRICE_PER_IMAGE for an estimate)"
    return f"cost estimate: ${estimate:.4g} ({total} x ${unit.per_image:.4g}, {unit.source})"


def _say_start(progress: Progress, started: Started) -> None:
    for batch_id in started.superseded:
        progress.console.print(f"cancelled unfinished batch {batch_id} of another deck here")
    if started.how is not Start.NEW:
        progress.console.print(
            f"continuing batch {started.batch.id} ({started.how}); --fresh starts over"
        )


def _progress() -> Progress:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[cost]}"),
    )
    return Progress(*columns, console=console, transient=False)


async def _watch(
    services: Services, batch_id: str, progress: Progress, task: TaskID
) -> QuotaWait | None:
    """Show progress until the batch ends; the quota wait if the upstream's quota ran out."""
    async with services.engine.events.subscribe(batch_id) as stream:
        status = await services.engine.read.status(batch_id)
        _update(progress, task, status.progress, None)
        if status.status.is_final:
            return None
        if status.progress.waiting_for_quota is not None:
            return status.progress.waiting_for_quota
        # While the batch waits on the gate no slide changes: refresh the wait once a second.
        ticker = asyncio.create_task(_tick(services, batch_id, progress, task))
        costs: dict[str, float] = {}
        try:
            async for event in stream:
                data = event.data
                slide = data.slide if isinstance(data, SlideEvent) else None
                if slide is not None and slide.spent is not None:
                    costs[slide.slide_id] = slide.spent
                    progress.update(task, cost=f"${sum(costs.values()):.4g}")
                _update(progress, task, data.progress, slide)
                if data.progress is not None and data.progress.waiting_for_quota is not None:
                    await _settle(services, batch_id, stream)
                    return data.progress.waiting_for_quota
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
    return None


async def _settle(services: Services, batch_id: str, stream: AsyncIterator[object]) -> None:
    """Let the attempts already in flight land (they are paid for), for up to a minute."""
    with contextlib.suppress(TimeoutError, StopAsyncIteration):
        async with asyncio.timeout(SETTLE_SECONDS):
            while True:
                status = await services.engine.read.status(batch_id)
                states = [slide.state for slide in status.results or ()]
                if SlideState.GENERATING not in states:
                    return
                await anext(stream)


def _quota_stop(quota: QuotaWait) -> None:
    when = quota.until.strftime("%Y-%m-%d %H:%M UTC")
    console.print(
        f"[yellow]stopped: the upstream's quota is spent until about {when}.[/]\n"
        f"  {quota.reason}\n"
        "  Run the same command again after that: finished slides are kept, the rest resumes."
    )


async def _tick(services: Services, batch_id: str, progress: Progress, task: TaskID) -> None:
    while True:
        await services.clock.sleep(1.0)
        status = await services.engine.read.status(batch_id)
        if status.progress.waiting:
            _update(progress, task, status.progress, None)


def _update(
    progress: Progress, task: TaskID, figures: SlideProgress | None, slide: SlideAnswer | None
) -> None:
    detail = f"p{slide.page_num} {slide.state}" if slide else ""
    if figures is not None and figures.waiting:
        detail = figures.waiting
    if slide and slide.error_message and slide.state is not SlideState.DONE:
        detail += f" ({slide.error_message[:60]})"
    eta = figures.estimated_remaining_time if figures else None
    completed = figures.completed_slides if figures else None
    progress.update(
        task, completed=completed, detail=detail, eta="-" if eta is None else f"{eta:.0f}s"
    )


async def _deck_so_far(
    services: Services, batch_id: str, settings: Settings
) -> tuple[BatchRecord, ExportDeck]:
    """The batch's record and its deck as stored now (slides not done yet have no file)."""
    record, slides = await services.engine.read.records(batch_id)
    deck = deck_from_records(record, slides, services.images.batch_dir(batch_id))
    deck = replace(deck, provider=services.provider.name, max_pixels=settings.image_max_pixels)
    return record, deck


def write_output(deck: ExportDeck, out_dir: Path) -> dict[str, Any]:
    """Slide images as ``NN-<slug>.<png|jpg|webp>`` plus ``manifest.json``; the manifest."""
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
    manifest = manifest_dict(deck, files)
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    with atomic_write(out_dir / MANIFEST_NAME) as handle:
        handle.write(text.encode("utf-8"))
    return manifest


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes ``source``'s bytes: a hard link where possible, else a copy."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _summary(manifest: dict[str, Any], out_dir: Path, state: BatchState) -> None:
    ok, total = manifest["successful"], manifest["total_slides"]
    colour = "green" if ok == total else "red"
    cost = manifest.get("cost")  # None: no image had a known price; 0: free (offline)
    paid = f", ${cost:.4g}" if cost is not None else ", cost unknown"
    console.print(
        f"[{colour}]{ok}/{total} slides[/] in {manifest['total_time'] or 0:.1f}s{paid} "
        f"({state}) -> {out_dir / MANIFEST_NAME}"
    )
    for result in manifest["results"]:
        where = f"p{result['page_num']} {_quoted(result['title'])}"
        if result["status"] != "done":
            console.print(f"  [red]{where}: {result['error_message']}[/]")
        for warning in result.get("warnings") or ():
            console.print(f"  [yellow]{where}: {warning}[/]")


def _quoted(title: str) -> str:
    """``title`` as the reader wrote it (repr would turn newer emoji into escapes)."""
    return "'" + escape(title) + "'"
